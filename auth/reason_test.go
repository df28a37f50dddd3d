package auth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"parley/auth"
)

// TestVerifyReasons: every refused token matches ErrInvalidToken and the one
// reason sentinel that says why, so a client is told more than "invalid".
func TestVerifyReasons(t *testing.T) {
	v := newVerifier(t, auth.Config{Algorithms: []string{"HS256"}, Secret: []byte(testSecret),
		UserClaim: "user_id", RequireExp: true, Issuer: "platform", Audience: "chat", MaxTokenBytes: 4096})
	exp := time.Now().Add(time.Hour).Unix()
	good := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"user_id": 1, "exp": exp, "iss": "platform", "aud": "chat"}
		for k, val := range extra {
			if val == nil {
				delete(c, k)
				continue
			}
			c[k] = val
		}
		return c
	}
	hs512 := sign(t, jwt.SigningMethodHS512, []byte(testSecret), good(nil))
	crit := jwt.NewWithClaims(jwt.SigningMethodHS256, good(nil))
	crit.Header["crit"] = []string{"x"}
	critTok, err := crit.SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"malformed", "lol", auth.ErrMalformedToken},
		{"too long", hs256(t, good(jwt.MapClaims{"pad": string(make([]byte, 5000))})), auth.ErrTooLong},
		{"alg not allowed", hs512, auth.ErrAlgorithm},
		{"bad signature", tamper(t, hs256(t, good(nil))), auth.ErrBadSignature},
		{"crit header", critTok, auth.ErrCritical},
		{"expired", hs256(t, good(jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()})), auth.ErrExpiredToken},
		{"no exp", hs256(t, good(jwt.MapClaims{"exp": nil})), auth.ErrNoExpiry},
		{"not yet valid", hs256(t, good(jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()})), auth.ErrNotYetValid},
		{"wrong issuer", hs256(t, good(jwt.MapClaims{"iss": "elsewhere"})), auth.ErrWrongIssuer},
		{"no issuer", hs256(t, good(jwt.MapClaims{"iss": nil})), auth.ErrWrongIssuer},
		{"wrong audience", hs256(t, good(jwt.MapClaims{"aud": "other"})), auth.ErrWrongAudience},
		{"no audience", hs256(t, good(jwt.MapClaims{"aud": nil})), auth.ErrWrongAudience},
		{"exp a string", hs256(t, good(jwt.MapClaims{"exp": "tomorrow"})), auth.ErrBadClaims},
		{"no user", hs256(t, good(jwt.MapClaims{"user_id": nil})), auth.ErrNoUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.token)
			if !errors.Is(err, auth.ErrInvalidToken) || !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want ErrInvalidToken and %v", err, tt.want)
			}
			if got := auth.Reason(err); got != tt.want.Error() {
				t.Errorf("Reason = %q, want %q", got, tt.want.Error())
			}
		})
	}
	if got := auth.Reason(errors.New("x")); got != "token is invalid" {
		t.Errorf("Reason(other) = %q", got)
	}
}
