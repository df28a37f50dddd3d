package auth_test

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"parley/auth"
)

func TestVerifyHS256(t *testing.T) {
	now := time.Now()
	exp := now.Add(time.Hour).Truncate(time.Second)
	future := now.Add(time.Hour).Unix()
	past := now.Add(-time.Hour).Unix()

	base := auth.Config{Algorithms: []string{"HS256"}, Secret: []byte(testSecret), RequireExp: true}
	withDomain := base
	withDomain.DomainClaim = "tenant"
	customUser := base
	customUser.UserClaim = "uid"
	lenient := base
	lenient.RequireExp = false
	leeway := base
	leeway.Leeway = time.Minute
	small := base
	small.MaxTokenBytes = 64

	tests := []struct {
		name        string
		cfg         auth.Config
		token       string
		want        auth.Claims
		wantErr     error // nil = success
		wantExpired bool
	}{
		{name: "numeric user id", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": 42, "exp": exp.Unix()}),
			want: auth.Claims{User: "42", Expires: exp}},
		{name: "larger numeric user id", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": 388636, "exp": exp.Unix()}),
			want: auth.Claims{User: "388636", Expires: exp}},
		{name: "numeric user id beyond float64 precision", cfg: base,
			token: rawHS256(t, `{"user_id":12345678901234567891,"exp":`+itoa(exp.Unix())+`}`),
			want:  auth.Claims{User: "12345678901234567891", Expires: exp}},
		{name: "exact exponent form", cfg: base, token: rawHS256(t, `{"user_id":4.2e1,"exp":`+itoa(exp.Unix())+`}`),
			want: auth.Claims{User: "42", Expires: exp}},
		{name: "zero user id", cfg: base, token: rawHS256(t, `{"user_id":0,"exp":`+itoa(exp.Unix())+`}`),
			want: auth.Claims{User: "0", Expires: exp}},
		{name: "string user id", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": "alice", "exp": exp.Unix()}),
			want: auth.Claims{User: "alice", Expires: exp}},
		{name: "falls back to sub", cfg: base, token: hs256(t, jwt.MapClaims{"sub": "bob", "exp": exp.Unix()}),
			want: auth.Claims{User: "bob", Expires: exp}},
		{name: "user claim wins over sub", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": "7", "sub": "bob", "exp": exp.Unix()}),
			want: auth.Claims{User: "7", Expires: exp}},
		{name: "custom user claim", cfg: customUser, token: hs256(t, jwt.MapClaims{"uid": "carol", "user_id": "x", "exp": exp.Unix()}),
			want: auth.Claims{User: "carol", Expires: exp}},
		{name: "custom user claim falls back to sub", cfg: customUser, token: hs256(t, jwt.MapClaims{"user_id": "x", "sub": "dave", "exp": exp.Unix()}),
			want: auth.Claims{User: "dave", Expires: exp}},
		{name: "domain present", cfg: withDomain, token: hs256(t, jwt.MapClaims{"user_id": 1, "tenant": "acme", "exp": exp.Unix()}),
			want: auth.Claims{User: "1", Domain: "acme", Expires: exp}},
		{name: "domain absent", cfg: withDomain, token: hs256(t, jwt.MapClaims{"user_id": 1, "exp": exp.Unix()}),
			wantErr: auth.ErrInvalidToken},
		{name: "domain ignored when not configured", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": 1, "tenant": "acme", "exp": exp.Unix()}),
			want: auth.Claims{User: "1", Expires: exp}},
		{name: "domain wrong type", cfg: withDomain, token: hs256(t, jwt.MapClaims{"user_id": 1, "tenant": 5, "exp": exp.Unix()}),
			wantErr: auth.ErrInvalidToken},
		{name: "missing user claim", cfg: base, token: hs256(t, jwt.MapClaims{"name": "x", "exp": exp.Unix()}),
			wantErr: auth.ErrInvalidToken},
		{name: "empty string user", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": "", "exp": exp.Unix()}),
			wantErr: auth.ErrInvalidToken},
		{name: "null user", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": nil, "sub": "bob", "exp": exp.Unix()}),
			wantErr: auth.ErrInvalidToken},
		{name: "bool user", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": true, "exp": exp.Unix()}),
			wantErr: auth.ErrInvalidToken},
		{name: "object user", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": map[string]any{"id": 1}, "exp": exp.Unix()}),
			wantErr: auth.ErrInvalidToken},
		{name: "array user", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": []int{1}, "exp": exp.Unix()}),
			wantErr: auth.ErrInvalidToken},
		{name: "fractional user", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": 1.5, "exp": exp.Unix()}),
			wantErr: auth.ErrInvalidToken},
		{name: "negative user", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": -3, "exp": exp.Unix()}),
			wantErr: auth.ErrInvalidToken},
		{name: "inexact exponent user", cfg: base, token: rawHS256(t, `{"user_id":1e-3,"exp":`+itoa(exp.Unix())+`}`),
			wantErr: auth.ErrInvalidToken},
		{name: "huge exponent user", cfg: base, token: rawHS256(t, `{"user_id":1e999999999,"exp":`+itoa(exp.Unix())+`}`),
			wantErr: auth.ErrInvalidToken},
		{name: "numeric sub fallback", cfg: base, token: rawHS256(t, `{"sub":99,"exp":`+itoa(exp.Unix())+`}`),
			want: auth.Claims{User: "99", Expires: exp}},
		{name: "expired", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": 1, "exp": past}),
			wantErr: auth.ErrInvalidToken, wantExpired: true},
		{name: "expired within leeway", cfg: leeway, token: hs256(t, jwt.MapClaims{"user_id": 1, "exp": now.Add(-30 * time.Second).Unix()}),
			want: auth.Claims{User: "1", Expires: time.Unix(now.Add(-30*time.Second).Unix(), 0)}},
		{name: "expired beyond leeway", cfg: leeway, token: hs256(t, jwt.MapClaims{"user_id": 1, "exp": now.Add(-2 * time.Minute).Unix()}),
			wantErr: auth.ErrInvalidToken, wantExpired: true},
		{name: "nbf in future", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": 1, "exp": future, "nbf": future}),
			wantErr: auth.ErrInvalidToken},
		{name: "nbf in future within leeway", cfg: leeway, token: hs256(t, jwt.MapClaims{"user_id": 1, "exp": exp.Unix(), "nbf": now.Add(30 * time.Second).Unix()}),
			want: auth.Claims{User: "1", Expires: exp}},
		{name: "iat in future", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": 1, "exp": future, "iat": future}),
			wantErr: auth.ErrInvalidToken},
		{name: "exp wrong type", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": 1, "exp": "tomorrow"}),
			wantErr: auth.ErrInvalidToken},
		{name: "no exp with RequireExp", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": 1}),
			wantErr: auth.ErrInvalidToken},
		{name: "no exp without RequireExp", cfg: lenient, token: hs256(t, jwt.MapClaims{"user_id": 1}),
			want: auth.Claims{User: "1"}},
		{name: "surrounding whitespace is trimmed", cfg: base, token: " " + hs256(t, jwt.MapClaims{"user_id": 1, "exp": exp.Unix()}) + "\n",
			want: auth.Claims{User: "1", Expires: exp}},
		{name: "alg none", cfg: base, token: sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"user_id": 1, "exp": future}),
			wantErr: auth.ErrInvalidToken},
		{name: "wrong secret", cfg: base, token: sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret!!!"), jwt.MapClaims{"user_id": 1, "exp": future}),
			wantErr: auth.ErrInvalidToken},
		{name: "HS512 not allowed", cfg: base, token: sign(t, jwt.SigningMethodHS512, []byte(testSecret), jwt.MapClaims{"user_id": 1, "exp": future}),
			wantErr: auth.ErrInvalidToken},
		{name: "tampered payload", cfg: base, token: tamper(t, hs256(t, jwt.MapClaims{"user_id": 1, "exp": future})),
			wantErr: auth.ErrInvalidToken},
		{name: "garbage", cfg: base, token: "not-a-jwt", wantErr: auth.ErrInvalidToken},
		{name: "three garbage segments", cfg: base, token: "a.b.c", wantErr: auth.ErrInvalidToken},
		{name: "empty", cfg: base, token: "", wantErr: auth.ErrMissingToken},
		{name: "blank", cfg: base, token: " \t ", wantErr: auth.ErrMissingToken},
		{name: "oversized default limit", cfg: base, token: hs256(t, jwt.MapClaims{"user_id": 1, "exp": future, "pad": strings.Repeat("x", 9000)}),
			wantErr: auth.ErrInvalidToken},
		{name: "oversized custom limit", cfg: small, token: hs256(t, jwt.MapClaims{"user_id": 1, "exp": future}),
			wantErr: auth.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, tt.cfg)
			got, err := v.Verify(tt.token)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: unexpected error %v", err)
				}
				if got.User != tt.want.User || got.Domain != tt.want.Domain || !got.Expires.Equal(tt.want.Expires) {
					t.Errorf("Verify = %+v, want %+v", got, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			if gotExpired := errors.Is(err, auth.ErrExpiredToken); gotExpired != tt.wantExpired {
				t.Errorf("errors.Is(err, ErrExpiredToken) = %v, want %v (err %v)", gotExpired, tt.wantExpired, err)
			}
			if got != (auth.Claims{}) {
				t.Errorf("Verify claims = %+v, want zero on error", got)
			}
		})
	}
}

func TestVerifyWrapsJWTCause(t *testing.T) {
	v := newVerifier(t, auth.Config{Algorithms: []string{"HS256"}, Secret: []byte(testSecret)})
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{name: "malformed", token: "garbage", want: jwt.ErrTokenMalformed},
		{name: "bad signature", token: tamper(t, hs256(t, jwt.MapClaims{"user_id": 1})), want: jwt.ErrTokenSignatureInvalid},
		{name: "expired", token: hs256(t, jwt.MapClaims{"user_id": 1, "exp": time.Now().Add(-time.Hour).Unix()}), want: jwt.ErrTokenExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.token)
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify error = %v, want it to wrap %v", err, tt.want)
			}
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Errorf("Verify error = %v, want it to wrap %v", err, auth.ErrInvalidToken)
			}
		})
	}
}

func TestSignHS256(t *testing.T) {
	tests := []struct {
		name    string
		secret  []byte
		wantErr bool
	}{
		{name: "round trip", secret: []byte(testSecret)},
		{name: "empty secret", secret: nil, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := auth.SignHS256(tt.secret, map[string]any{"user_id": "erin"})
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("SignHS256 error = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			v := newVerifier(t, auth.Config{Algorithms: []string{"HS256"}, Secret: tt.secret})
			got, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if want := "erin"; got.User != want {
				t.Errorf("User = %q, want %q", got.User, want)
			}
		})
	}
}

// rawHS256 signs a literal JSON payload, for number forms that
// jwt.MapClaims cannot produce (big integers, exponents).
func rawHS256(t *testing.T, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	header := enc([]byte(`{"alg":"HS256","typ":"JWT"}`))
	signing := header + "." + enc([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(signing, []byte(testSecret))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return signing + "." + enc(sig)
}

// tamper replaces the payload of token with one claiming user "mallory".
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"user_id":"mallory"}`))
	return strings.Join(parts, ".")
}

func itoa(n int64) string {
	return strconv.FormatInt(n, 10)
}
