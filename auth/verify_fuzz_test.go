package auth_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"parley/auth"
)

// fuzzVerifier is the HS256 verifier every fuzz target checks against,
// with a domain claim so that path is exercised too.
func fuzzVerifier(f *testing.F) *auth.Verifier {
	f.Helper()
	v, err := auth.NewVerifier(auth.Config{Algorithms: []string{"HS256"}, Secret: []byte(testSecret),
		DomainClaim: "dom", RequireExp: true, Leeway: 30 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	return v
}

// checkVerified holds for every Verify result: errors are the package's
// sentinels, and accepted claims have a usable user id.
func checkVerified(t *testing.T, c auth.Claims, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, auth.ErrInvalidToken) && !errors.Is(err, auth.ErrMissingToken) {
			t.Fatalf("error %v is neither ErrInvalidToken nor ErrMissingToken", err)
		}
		return
	}
	if c.User == "" || len(c.User) > 64 && strings.Trim(c.User, "0123456789") == "" {
		t.Fatalf("accepted user %q", c.User)
	}
}

func fuzzToken(f *testing.F, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	f.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// FuzzVerify feeds arbitrary strings to Verify: it must never panic nor
// accept anything it should not.
func FuzzVerify(f *testing.F) {
	v := fuzzVerifier(f)
	exp := time.Now().Add(24 * 365 * time.Hour).Unix()
	for _, claims := range []jwt.MapClaims{
		{"user_id": 42, "exp": exp},
		{"user_id": "alice", "exp": exp, "dom": "tena"},
		{"sub": "7", "exp": exp},
		{"user_id": 4.2e1, "exp": exp},
		{"user_id": 1, "exp": exp, "nbf": exp},
		{"user_id": true, "exp": exp},
		{"exp": exp},
	} {
		f.Add(fuzzToken(f, jwt.SigningMethodHS256, []byte(testSecret), claims))
	}
	f.Add(fuzzToken(f, jwt.SigningMethodHS512, []byte(testSecret), jwt.MapClaims{"user_id": 1, "exp": exp}))
	f.Add(fuzzToken(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"user_id": 1, "exp": exp}))
	f.Add("")
	f.Add("   ")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJIUzI1NiJ9..")
	f.Add(strings.Repeat("a", 9000))
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(token)
		checkVerified(t, c, err)
	})
}

// FuzzVerifyClaims signs arbitrary payloads with the right key, so the
// fuzzer reaches claim extraction: user (number or string, exponent
// forms), domain, exp/nbf/iat of any type.
func FuzzVerifyClaims(f *testing.F) {
	v := fuzzVerifier(f)
	for _, p := range []string{
		`{"user_id":42,"exp":4102444800}`,
		`{"user_id":"42","exp":4102444800,"dom":"tena"}`,
		`{"user_id":4.2e1,"exp":4102444800}`,
		`{"user_id":1e999999999,"exp":4102444800}`,
		`{"user_id":-1,"exp":4102444800}`,
		`{"user_id":0.5,"exp":4102444800}`,
		`{"user_id":{"id":1},"exp":4102444800}`,
		`{"sub":"x","exp":"tomorrow"}`,
		`{"user_id":1,"exp":4102444800,"nbf":4102444800}`,
		`{"user_id":1,"exp":4102444800,"iat":1e400}`,
		`{"user_id":1,"exp":4102444800,"dom":5}`,
		`{"user_id":1}`,
		`[]`,
		`null`,
	} {
		f.Add([]byte(`{"alg":"HS256","typ":"JWT"}`), []byte(p))
	}
	f.Add([]byte(`{"alg":"none"}`), []byte(`{"user_id":1,"exp":4102444800}`))
	f.Add([]byte(`{"alg":"HS256","crit":["x"]}`), []byte(`{"user_id":1,"exp":4102444800}`))
	f.Fuzz(func(t *testing.T, header, payload []byte) {
		enc := base64.RawURLEncoding
		signing := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
		mac := hmac.New(sha256.New, []byte(testSecret))
		mac.Write([]byte(signing))
		c, err := v.Verify(signing + "." + enc.EncodeToString(mac.Sum(nil)))
		checkVerified(t, c, err)
	})
}
