package auth_test

import (
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"parley/auth"
)

func TestVerifyAsymmetric(t *testing.T) {
	rsaPriv := rsaKey(t)
	otherRSA := rsaKey(t)
	ec256 := ecKey(t, elliptic.P256())
	ec384 := ecKey(t, elliptic.P384())
	edPub, edPriv := edKey(t)

	rsaPEM := pkixPEM(t, &rsaPriv.PublicKey)
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaPriv.PublicKey)})
	rsaCert := certPEM(t, &rsaPriv.PublicKey, rsaPriv)

	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"user_id": 7, "exp": time.Now().Add(time.Hour).Unix()}
	}

	tests := []struct {
		name    string
		algs    []string
		keyPEM  []byte
		token   string
		wantErr bool
	}{
		{name: "RS256", algs: []string{"RS256"}, keyPEM: rsaPEM, token: sign(t, jwt.SigningMethodRS256, rsaPriv, claims())},
		{name: "RS512 with RS256 also allowed", algs: []string{"RS256", "RS512"}, keyPEM: rsaPEM, token: sign(t, jwt.SigningMethodRS512, rsaPriv, claims())},
		{name: "RS256 with PKCS1 key", algs: []string{"RS256"}, keyPEM: pkcs1PEM, token: sign(t, jwt.SigningMethodRS256, rsaPriv, claims())},
		{name: "RS256 with certificate", algs: []string{"RS256"}, keyPEM: rsaCert, token: sign(t, jwt.SigningMethodRS256, rsaPriv, claims())},
		{name: "PS256", algs: []string{"PS256"}, keyPEM: rsaPEM, token: sign(t, jwt.SigningMethodPS256, rsaPriv, claims())},
		{name: "ES256", algs: []string{"ES256"}, keyPEM: pkixPEM(t, &ec256.PublicKey), token: sign(t, jwt.SigningMethodES256, ec256, claims())},
		{name: "ES384", algs: []string{"ES384"}, keyPEM: pkixPEM(t, &ec384.PublicKey), token: sign(t, jwt.SigningMethodES384, ec384, claims())},
		{name: "EdDSA", algs: []string{"EdDSA"}, keyPEM: pkixPEM(t, edPub), token: sign(t, jwt.SigningMethodEdDSA, edPriv, claims())},
		{name: "RS256 signed by another key", algs: []string{"RS256"}, keyPEM: rsaPEM,
			token: sign(t, jwt.SigningMethodRS256, otherRSA, claims()), wantErr: true},
		{name: "RS512 not allowed", algs: []string{"RS256"}, keyPEM: rsaPEM,
			token: sign(t, jwt.SigningMethodRS512, rsaPriv, claims()), wantErr: true},
		{name: "algorithm confusion: HS256 keyed with the RSA public key PEM", algs: []string{"RS256"}, keyPEM: rsaPEM,
			token: sign(t, jwt.SigningMethodHS256, rsaPEM, claims()), wantErr: true},
		{name: "algorithm confusion: HS256 keyed with the certificate PEM", algs: []string{"RS256"}, keyPEM: rsaCert,
			token: sign(t, jwt.SigningMethodHS256, rsaCert, claims()), wantErr: true},
		{name: "alg none", algs: []string{"EdDSA"}, keyPEM: pkixPEM(t, edPub),
			token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims()), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, auth.Config{Algorithms: tt.algs, PublicKeyPEM: tt.keyPEM, RequireExp: true})
			got, err := v.Verify(tt.token)
			if tt.wantErr {
				if !errors.Is(err, auth.ErrInvalidToken) {
					t.Errorf("Verify error = %v, want %v", err, auth.ErrInvalidToken)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: unexpected error %v", err)
			}
			if want := "7"; got.User != want {
				t.Errorf("User = %q, want %q", got.User, want)
			}
		})
	}
}

func TestNewVerifierErrors(t *testing.T) {
	rsaPriv := rsaKey(t)
	rsaPEM := pkixPEM(t, &rsaPriv.PublicKey)
	ec256 := ecKey(t, elliptic.P256())
	ecPEM := pkixPEM(t, &ec256.PublicKey)
	edPub, _ := edKey(t)
	edPEM := pkixPEM(t, edPub)
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaPriv)})
	secret := []byte(testSecret)

	tests := []struct {
		name    string
		cfg     auth.Config
		wantErr bool
	}{
		{name: "HS256 with 32-byte secret", cfg: auth.Config{Algorithms: []string{"HS256"}, Secret: secret}},
		{name: "HS256 with 16-byte secret", cfg: auth.Config{Algorithms: []string{"HS256", "HS512"}, Secret: secret[:16]}},
		{name: "RS256 and PS256 with one RSA key", cfg: auth.Config{Algorithms: []string{"RS256", "PS256"}, PublicKeyPEM: rsaPEM}},
		{name: "no algorithms", cfg: auth.Config{Secret: secret}, wantErr: true},
		{name: "unknown algorithm", cfg: auth.Config{Algorithms: []string{"HS1024"}, Secret: secret}, wantErr: true},
		{name: "lower-case algorithm", cfg: auth.Config{Algorithms: []string{"hs256"}, Secret: secret}, wantErr: true},
		{name: "none algorithm", cfg: auth.Config{Algorithms: []string{"none"}, Secret: secret}, wantErr: true},
		{name: "HS256 without secret", cfg: auth.Config{Algorithms: []string{"HS256"}}, wantErr: true},
		{name: "HS256 with 15-byte secret", cfg: auth.Config{Algorithms: []string{"HS256"}, Secret: secret[:15]}, wantErr: true},
		{name: "HS256 with public key", cfg: auth.Config{Algorithms: []string{"HS256"}, Secret: secret, PublicKeyPEM: rsaPEM}, wantErr: true},
		{name: "mixing HMAC and RSA", cfg: auth.Config{Algorithms: []string{"HS256", "RS256"}, Secret: secret, PublicKeyPEM: rsaPEM}, wantErr: true},
		{name: "RS256 without key", cfg: auth.Config{Algorithms: []string{"RS256"}}, wantErr: true},
		{name: "RS256 with secret", cfg: auth.Config{Algorithms: []string{"RS256"}, PublicKeyPEM: rsaPEM, Secret: secret}, wantErr: true},
		{name: "RS256 with EC key", cfg: auth.Config{Algorithms: []string{"RS256"}, PublicKeyPEM: ecPEM}, wantErr: true},
		{name: "ES256 with RSA key", cfg: auth.Config{Algorithms: []string{"ES256"}, PublicKeyPEM: rsaPEM}, wantErr: true},
		{name: "ES384 with P-256 key", cfg: auth.Config{Algorithms: []string{"ES384"}, PublicKeyPEM: ecPEM}, wantErr: true},
		{name: "ES256 and EdDSA with one key", cfg: auth.Config{Algorithms: []string{"ES256", "EdDSA"}, PublicKeyPEM: ecPEM}, wantErr: true},
		{name: "EdDSA with RSA key", cfg: auth.Config{Algorithms: []string{"EdDSA"}, PublicKeyPEM: rsaPEM}, wantErr: true},
		{name: "EdDSA with Ed25519 key", cfg: auth.Config{Algorithms: []string{"EdDSA"}, PublicKeyPEM: edPEM}},
		{name: "key is not PEM", cfg: auth.Config{Algorithms: []string{"RS256"}, PublicKeyPEM: []byte("not pem")}, wantErr: true},
		{name: "key is a private key", cfg: auth.Config{Algorithms: []string{"RS256"}, PublicKeyPEM: privPEM}, wantErr: true},
		{name: "corrupt public key", cfg: auth.Config{Algorithms: []string{"RS256"},
			PublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("junk")})}, wantErr: true},
		{name: "negative leeway", cfg: auth.Config{Algorithms: []string{"HS256"}, Secret: secret, Leeway: -time.Second}, wantErr: true},
		{name: "negative MaxTokenBytes", cfg: auth.Config{Algorithms: []string{"HS256"}, Secret: secret, MaxTokenBytes: -1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := auth.NewVerifier(tt.cfg)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("NewVerifier error = %v, want error %v", err, tt.wantErr)
			}
			if gotNil := v == nil; gotNil != tt.wantErr {
				t.Errorf("NewVerifier returned nil verifier = %v, want %v", gotNil, tt.wantErr)
			}
		})
	}
}
