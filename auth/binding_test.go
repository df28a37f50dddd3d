package auth_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"parley/auth"
)

// headerHS256 signs payload under a raw JOSE header with testSecret.
func headerHS256(t *testing.T, header, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	signing := enc([]byte(header)) + "." + enc([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(signing, []byte(testSecret))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return signing + "." + enc(sig)
}

// A token is refused when its header marks an extension critical that
// Parley does not implement (RFC 7515 §4.1.11): Parley implements none.
func TestVerifyRefusesCriticalHeader(t *testing.T) {
	v := newVerifier(t, auth.Config{Algorithms: []string{"HS256"}, Secret: []byte(testSecret)})
	payload := `{"user_id":1,"exp":` + itoa(time.Now().Add(time.Hour).Unix()) + `,"exp2":1}`
	if _, err := v.Verify(headerHS256(t, `{"alg":"HS256","typ":"JWT"}`, payload)); err != nil {
		t.Fatalf("plain header refused: %v", err)
	}
	for _, header := range []string{
		`{"alg":"HS256","crit":["exp2"],"exp2":1}`,
		`{"alg":"HS256","crit":["b64"],"b64":false}`,
		`{"alg":"HS256","crit":[]}`,
		`{"alg":"HS256","crit":"exp2"}`,
		`{"alg":"HS256","crit":null}`,
	} {
		_, err := v.Verify(headerHS256(t, header, payload))
		if !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("header %s: err = %v, want ErrInvalidToken", header, err)
		}
	}
}

// With a domain claim configured, a token must carry it.
func TestVerifyRequiresConfiguredDomainClaim(t *testing.T) {
	v := newVerifier(t, auth.Config{Algorithms: []string{"HS256"}, Secret: []byte(testSecret), DomainClaim: "dom"})
	exp := time.Now().Add(time.Hour).Unix()
	for name, claims := range map[string]jwt.MapClaims{
		"absent": {"user_id": 1, "exp": exp},
		"empty":  {"user_id": 1, "exp": exp, "dom": ""},
		"null":   {"user_id": 1, "exp": exp, "dom": nil},
		"list":   {"user_id": 1, "exp": exp, "dom": []string{"acme"}},
	} {
		if _, err := v.Verify(hs256(t, claims)); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("%s: err = %v, want ErrInvalidToken", name, err)
		}
	}
	c, err := v.Verify(hs256(t, jwt.MapClaims{"user_id": 1, "exp": exp, "dom": "acme"}))
	if err != nil || c.Domain != "acme" {
		t.Errorf("claim acme: %+v, %v; want domain acme", c, err)
	}
}

func TestVerifyIssuerAndAudience(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	v := newVerifier(t, auth.Config{Algorithms: []string{"HS256"}, Secret: []byte(testSecret),
		Issuer: "https://id.acme.test", Audience: "parley"})
	tests := []struct {
		name   string
		claims jwt.MapClaims
		ok     bool
	}{
		{"both match", jwt.MapClaims{"iss": "https://id.acme.test", "aud": "parley"}, true},
		{"aud list holding it", jwt.MapClaims{"iss": "https://id.acme.test", "aud": []string{"other", "parley"}}, true},
		{"no iss", jwt.MapClaims{"aud": "parley"}, false},
		{"no aud", jwt.MapClaims{"iss": "https://id.acme.test"}, false},
		{"other iss", jwt.MapClaims{"iss": "https://id.beta.test", "aud": "parley"}, false},
		{"other aud", jwt.MapClaims{"iss": "https://id.acme.test", "aud": "billing"}, false},
		{"aud list without it", jwt.MapClaims{"iss": "https://id.acme.test", "aud": []string{"billing"}}, false},
		{"iss of another case", jwt.MapClaims{"iss": "https://ID.acme.test", "aud": "parley"}, false},
		{"iss wrong type", jwt.MapClaims{"iss": 5, "aud": "parley"}, false},
	}
	for _, tt := range tests {
		tt.claims["user_id"], tt.claims["exp"] = 1, exp
		_, err := v.Verify(hs256(t, tt.claims))
		if tt.ok && err != nil {
			t.Errorf("%s: refused: %v", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("%s: err = %v, want ErrInvalidToken", tt.name, err)
		}
	}
	// Unset, neither is looked at.
	plain := newVerifier(t, auth.Config{Algorithms: []string{"HS256"}, Secret: []byte(testSecret)})
	if _, err := plain.Verify(hs256(t, jwt.MapClaims{"user_id": 1, "exp": exp, "iss": "x", "aud": "y"})); err != nil {
		t.Errorf("no issuer/audience configured: %v", err)
	}
}

// A request carries at most one token: two different ones are refused
// whichever sources they come from, never "first wins".
func TestRequestToken(t *testing.T) {
	tests := []struct {
		name    string
		header  [][2]string // added in order; a name may repeat
		extra   []string
		want    string
		wantErr bool
	}{
		{name: "none"},
		{name: "X-Auth-Token", header: [][2]string{{"X-Auth-Token", " abc "}}, want: "abc"},
		{name: "bearer", header: [][2]string{{"Authorization", "bearer  abc "}}, want: "abc"},
		{name: "query only", extra: []string{"abc"}, want: "abc"},
		{name: "blank extras ignored", header: [][2]string{{"X-Auth-Token", "abc"}}, extra: []string{"", "  "}, want: "abc"},
		{name: "basic scheme is no token", header: [][2]string{{"X-Auth-Token", "abc"}, {"Authorization", "Basic dXNlcjpwYXNz"}}, want: "abc"},
		{name: "same token twice", header: [][2]string{{"X-Auth-Token", "abc"}, {"Authorization", "Bearer abc"}}, extra: []string{"abc"}, want: "abc"},
		{name: "X-Auth-Token and Authorization differ", header: [][2]string{{"X-Auth-Token", "x"}, {"Authorization", "Bearer y"}}, wantErr: true},
		{name: "X-Auth-Token twice", header: [][2]string{{"X-Auth-Token", "x"}, {"X-Auth-Token", "y"}}, wantErr: true},
		{name: "X-Auth-Token folded", header: [][2]string{{"X-Auth-Token", "x, y"}}, wantErr: true},
		{name: "Authorization twice", header: [][2]string{{"Authorization", "Bearer x"}, {"Authorization", "Bearer y"}}, wantErr: true},
		{name: "query and header differ", header: [][2]string{{"X-Auth-Token", "x"}}, extra: []string{"y"}, wantErr: true},
		{name: "two queries differ", extra: []string{"x", "y"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, kv := range tt.header {
				h.Add(kv[0], kv[1])
			}
			got, err := auth.RequestToken(h, tt.extra...)
			if tt.wantErr {
				if !errors.Is(err, auth.ErrAmbiguousToken) || got != "" {
					t.Errorf("RequestToken = %q, %v; want ErrAmbiguousToken", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("RequestToken = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
