package auth_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"parley/auth"
)

func TestAdminClaim(t *testing.T) {
	t.Parallel()
	exp := time.Now().Add(time.Hour).Unix()
	cases := []struct {
		name        string
		claim, want string // config
		role        any    // the token's claim; nil = absent
		admin       bool
	}{
		{"string match", "role", "admin", "admin", true},
		{"string other", "role", "admin", "user", false},
		{"case matters", "role", "admin", "Admin", false},
		{"list holding it", "roles", "admin", []any{"user", "admin"}, true},
		{"list without it", "roles", "admin", []any{"user"}, false},
		{"number", "role", "admin", 1, false},
		{"bool", "role", "true", true, false},
		{"absent", "role", "admin", nil, false},
		{"disabled", "", "admin", "admin", false},
		{"no value", "role", "", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := newVerifier(t, auth.Config{Algorithms: []string{"HS256"}, Secret: []byte(testSecret), AdminClaim: c.claim, AdminValue: c.want})
			claims := jwt.MapClaims{"user_id": 7, "exp": exp}
			if c.role != nil {
				name := c.claim
				if name == "" {
					name = "role"
				}
				claims[name] = c.role
			}
			got, err := v.Verify(hs256(t, claims))
			if err != nil {
				t.Fatal(err)
			}
			if got.Admin != c.admin {
				t.Errorf("Admin = %v, want %v", got.Admin, c.admin)
			}
		})
	}
}
