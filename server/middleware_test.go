package server

import (
	"errors"
	"testing"

	"parley/auth"
	"parley/chat"
)

// fakeVerifier accepts exactly one token and returns claims for it.
type fakeVerifier struct {
	token  string
	claims auth.Claims
}

func (f fakeVerifier) Verify(token string) (auth.Claims, error) {
	if token != f.token {
		return auth.Claims{}, auth.ErrInvalidToken
	}
	return f.claims, nil
}

// TestAuthenticateTenantRule is the truth table of the tenant rule for
// every setup: which domain a token acts in, or that it is refused.
func TestAuthenticateTenantRule(t *testing.T) {
	hosts := map[string]chat.Domain{"acme.test": "acme", "beta.test": "beta"}
	claim := func(dom string) auth.Claims { return auth.Claims{User: "1", Domain: dom} }
	shared := func(c auth.Claims) authenticator {
		return authenticator{verifier: fakeVerifier{"t", c}, hostDomains: hosts, defaultDomain: "def"}
	}
	withClaim := func(c auth.Claims) authenticator { a := shared(c); a.domainClaim = true; return a }
	keyed := authenticator{hostDomains: hosts, defaultDomain: "def", domainKeys: map[chat.Domain]tokenVerifier{
		"acme": fakeVerifier{"acme-token", claim("")}, "beta": fakeVerifier{"beta-token", claim("")}}}
	keyedClaim := keyed
	keyedClaim.domainClaim = true
	keyedClaim.domainKeys = map[chat.Domain]tokenVerifier{"acme": fakeVerifier{"acme-token", claim("acme")}}

	tests := []struct {
		name  string
		a     authenticator
		token string
		host  string
		want  chat.Domain // "" = refused as another domain
	}{
		{"one tenant: any host is the default", authenticator{verifier: fakeVerifier{"t", claim("")}, defaultDomain: "def"}, "t", "beta.test", "def"},
		{"claim matches host", withClaim(claim("acme")), "t", "ACME.test.:443", "acme"},
		{"claim names another host's domain", withClaim(claim("acme")), "t", "Beta.Test", ""},
		{"claim on an unmapped host picks", withClaim(claim("gamma")), "t", "gamma.test", "gamma"},
		{"claim not a handle", withClaim(claim("Not:A*Handle")), "t", "other.test", ""},
		{"claim empty", withClaim(claim("")), "t", "acme.test", ""},
		{"key of acme on acme", keyed, "acme-token", "acme.test:8443", "acme"},
		{"key of acme on beta", keyed, "acme-token", "beta.test", ""},
		{"key of beta on beta.", keyed, "beta-token", "BETA.test.", "beta"},
		{"default domain without key", keyed, "acme-token", "other.test", ""},
		{"keys and claim agree", keyedClaim, "acme-token", "acme.test", "acme"},
		{"keys and claim: unmapped host is the default", keyedClaim, "acme-token", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, err := tt.a.authenticate(tt.token, tt.host)
			switch {
			case tt.want == "" && err == nil:
				t.Errorf("accepted in %q, want refused", cl.Domain)
			case tt.want == "" && !errors.Is(err, errOtherDomain) && !errors.Is(err, auth.ErrInvalidToken):
				t.Errorf("err = %v, want errOtherDomain or ErrInvalidToken", err)
			case tt.want != "" && (err != nil || cl.Domain != tt.want):
				t.Errorf("= %q, %v; want domain %q", cl.Domain, err, tt.want)
			}
		})
	}
	if _, err := shared(claim("")).authenticate("  ", "acme.test"); !errors.Is(err, auth.ErrMissingToken) {
		t.Errorf("blank token: err = %v, want ErrMissingToken", err)
	}
}
