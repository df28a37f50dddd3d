package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"parley/auth"
	"parley/chat"
)

// A Kubernetes secret volume: the files are symlinks into a ..data
// directory, next to dot-named bookkeeping; public keys verify only their
// own domain's tokens.
func TestLoadDomainKeysPEMSecretVolume(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_12_01")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(data, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	priv := map[chat.Domain]*ecdsa.PrivateKey{}
	for _, d := range []chat.Domain{"acme", "beta"} {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv[d] = k
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		file := string(d) + ".pem"
		if err := os.WriteFile(filepath.Join(data, file), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", file), filepath.Join(dir, file)); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.WriteFile(filepath.Join(dir, "README"), []byte("not a key"), 0o600)
	keys, err := loadDomainKeys(dir, []chat.Domain{"acme", "beta"}, "def",
		auth.Config{Algorithms: []string{"ES256"}, RequireExp: true})
	if err != nil {
		t.Fatalf("loadDomainKeys: %v", err)
	}
	if len(keys) != 2 || keys["def"] != nil {
		t.Fatalf("keys for %d domains (default %v), want acme and beta only", len(keys), keys["def"])
	}
	tok := func(d chat.Domain) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"user_id": 1, "exp": time.Now().Add(time.Hour).Unix()}).SignedString(priv[d])
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := keys["acme"].Verify(tok("acme")); err != nil {
		t.Errorf("acme's token with acme's key: %v", err)
	}
	if _, err := keys["beta"].Verify(tok("acme")); err == nil {
		t.Error("acme's token verified with beta's key")
	}

	// The same public key for two domains is refused.
	same := t.TempDir()
	raw, _ := os.ReadFile(filepath.Join(data, "acme.pem"))
	_ = os.WriteFile(filepath.Join(same, "acme.pem"), raw, 0o600)
	_ = os.WriteFile(filepath.Join(same, "beta.pem"), raw, 0o600)
	_, err = loadDomainKeys(same, []chat.Domain{"acme", "beta"}, "def", auth.Config{Algorithms: []string{"ES256"}})
	if err == nil || !strings.Contains(err.Error(), "same key") {
		t.Errorf("one public key for two domains: err = %v, want one saying they have the same key", err)
	}
}
