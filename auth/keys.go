package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// family groups algorithms by the kind of key that verifies them.
type family int

const (
	familyHMAC family = iota + 1
	familyRSA
	familyECDSA
	familyEdDSA
)

// algorithm describes one supported JWS "alg" value.
type algorithm struct {
	family family
	curve  elliptic.Curve // ECDSA only
}

// lookupAlg returns the description of a supported alg, or false.
// A function rather than a package-level map keeps the package free of
// mutable globals.
func lookupAlg(name string) (algorithm, bool) {
	switch name {
	case "HS256", "HS384", "HS512":
		return algorithm{family: familyHMAC}, true
	case "RS256", "RS384", "RS512", "PS256":
		return algorithm{family: familyRSA}, true
	case "ES256":
		return algorithm{family: familyECDSA, curve: elliptic.P256()}, true
	case "ES384":
		return algorithm{family: familyECDSA, curve: elliptic.P384()}, true
	case "EdDSA":
		return algorithm{family: familyEdDSA}, true
	}
	return algorithm{}, false
}

// parsePublicKey decodes the first PEM block of data: a PKIX public key
// ("PUBLIC KEY"), a PKCS#1 RSA public key ("RSA PUBLIC KEY") or a
// certificate ("CERTIFICATE"), whose public key is used.
func parsePublicKey(data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("public key: no PEM block found")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		return k, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		return k, nil
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		return cert.PublicKey, nil
	}
	return nil, fmt.Errorf("public key: unsupported PEM block %q (want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", block.Type)
}

// checkKey reports whether key can verify tokens signed with alg.
func checkKey(name string, alg algorithm, key any) error {
	switch alg.family {
	case familyRSA:
		if _, ok := key.(*rsa.PublicKey); ok {
			return nil
		}
	case familyECDSA:
		if k, ok := key.(*ecdsa.PublicKey); ok {
			if k.Curve != alg.curve {
				return fmt.Errorf("algorithm %s needs a %s key, got %s", name, alg.curve.Params().Name, k.Curve.Params().Name)
			}
			return nil
		}
	case familyEdDSA:
		if _, ok := key.(ed25519.PublicKey); ok {
			return nil
		}
	}
	return fmt.Errorf("algorithm %s cannot be verified with a %T key", name, key)
}
