package config_test

import (
	"maps"
	"strings"
	"testing"

	"parley/config"
)

// Host mapping without a way to bind a token to a domain does not start:
// the error names the variable and both ways to fix it.
func TestDomainsNeedTokenBinding(t *testing.T) {
	_, err := config.Load(map[string]string{"PARLEY_DOMAINS": "acme.test=acme,beta.test=beta", "PARLEY_JWT_SECRET": "0123456789abcdef"})
	if err == nil {
		t.Fatal("Load: PARLEY_DOMAINS with one shared key and no domain claim was accepted")
	}
	for _, want := range []string{"PARLEY_DOMAINS", "PARLEY_JWT_DOMAIN_CLAIM", "PARLEY_JWT_DOMAIN_KEYS_DIR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	for name, env := range map[string]map[string]string{
		"domain claim": {"PARLEY_DOMAINS": "acme.test=acme", "PARLEY_JWT_SECRET": "0123456789abcdef", "PARLEY_JWT_DOMAIN_CLAIM": "dom"},
		"keys dir":     {"PARLEY_DOMAINS": "acme.test=acme", "PARLEY_JWT_DOMAIN_KEYS_DIR": "/keys"},
		"no domains":   {"PARLEY_JWT_SECRET": "0123456789abcdef"},
	} {
		if _, err := config.Load(env); err != nil {
			t.Errorf("%s: Load: %v", name, err)
		}
	}
	// The keys directory replaces the single key.
	for _, key := range []string{"PARLEY_JWT_SECRET", "PARLEY_JWT_PUBLIC_KEY_FILE"} {
		env := map[string]string{"PARLEY_JWT_DOMAIN_KEYS_DIR": "/keys", key: "0123456789abcdef"}
		if _, err := config.Load(env); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s with PARLEY_JWT_DOMAIN_KEYS_DIR: err = %v, want one naming %s", key, err, key)
		}
	}
}

func TestCanonicalHost(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "",
		"chat.example.com":        "chat.example.com",
		"Chat.Example.COM":        "chat.example.com",
		"chat.example.com.":       "chat.example.com",
		"chat.example.com:8443":   "chat.example.com",
		"CHAT.example.com.:8443":  "chat.example.com",
		" chat.example.com ":      "chat.example.com",
		"127.0.0.1:8080":          "127.0.0.1",
		"[::1]:8080":              "::1",
		"[::1]":                   "::1",
		"[2001:DB8::1]":           "2001:db8::1",
		"chat.example.com:":       "chat.example.com",
		"chat.example.com..":      "chat.example.com.",
		"evil.test/chat.example":  "evil.test/chat.example",
		"chat.example.com:80:80x": "chat.example.com:80:80x",
	} {
		if got := config.CanonicalHost(in); got != want {
			t.Errorf("CanonicalHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// PARLEY_DOMAINS entries are compared in canonical form; an entry that no
// request could ever match is a start-up error naming the variable.
func TestDomainsEntries(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  map[string]string // nil: an error
	}{
		{"case, port and trailing dot", "Acme.Test.:8443=acme,BETA.test=beta",
			map[string]string{"acme.test": "acme", "beta.test": "beta"}},
		{"the same host twice for one handle", "acme.test=acme,ACME.test.:80=acme", map[string]string{"acme.test": "acme"}},
		{"IPv6 literal", "[::1]:8080=local,10.0.0.1=ten", map[string]string{"::1": "local", "10.0.0.1": "ten"}},
		{"exact duplicate, other handle", "acme.test=acme,acme.test=beta", nil},
		{"duplicate after case", "acme.test=acme,Acme.Test=beta", nil},
		{"duplicate after port", "acme.test=acme,acme.test:8080=beta", nil},
		{"duplicate after trailing dot", "acme.test=acme,acme.test.=beta", nil},
		{"empty host", "=acme", nil},
		{"port only", ":8080=acme", nil},
		{"space inside", "acme test=acme", nil},
		{"slash", "acme.test/x=acme", nil},
		{"empty label", "acme..test=acme", nil},
		{"unicode", "äcme.test=acme", nil},
		{"bad port", "acme.test:http=acme", nil},
		{"port out of range", "acme.test:70000=acme", nil},
		{"invalid handle", "acme.test=Acme", nil},
		{"missing separator", "acme.test", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(map[string]string{"PARLEY_DOMAINS": tt.value, "PARLEY_JWT_DOMAIN_CLAIM": "dom"})
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), "PARLEY_DOMAINS") {
					t.Fatalf("Load(%q) = %v, %v; want an error naming PARLEY_DOMAINS", tt.value, c.Domains, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load(%q): %v", tt.value, err)
			}
			if !maps.Equal(c.Domains, tt.want) {
				t.Errorf("Domains = %v, want %v", c.Domains, tt.want)
			}
		})
	}
}

// With the embedded store (dev mode) Parley listens on the loopback
// interface only, unless PARLEY_HTTP_ADDR says otherwise.
func TestHTTPAddrDefault(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "127.0.0.1:8080"},
		{map[string]string{"PARLEY_HTTP_ADDR": ""}, "127.0.0.1:8080"},
		{map[string]string{"PARLEY_HTTP_ADDR": ":8080"}, ":8080"},
		{map[string]string{"PARLEY_HTTP_ADDR": "0.0.0.0:9000"}, "0.0.0.0:9000"},
		{map[string]string{"PARLEY_REDIS_URL": "redis://r:6379/0", "PARLEY_JWT_SECRET": "0123456789abcdef"}, ":8080"},
	}
	for _, tt := range tests {
		c, err := config.Load(tt.env)
		if err != nil {
			t.Fatalf("Load(%v): %v", tt.env, err)
		}
		if c.HTTPAddr != tt.want {
			t.Errorf("Load(%v).HTTPAddr = %q, want %q", tt.env, c.HTTPAddr, tt.want)
		}
	}
}

func TestIssuerAudience(t *testing.T) {
	c, err := config.Load(map[string]string{"PARLEY_JWT_ISSUER": "https://id.acme.test", "PARLEY_JWT_AUDIENCE": "parley"})
	if err != nil {
		t.Fatal(err)
	}
	if c.JWTIssuer != "https://id.acme.test" || c.JWTAudience != "parley" {
		t.Errorf("issuer, audience = %q, %q", c.JWTIssuer, c.JWTAudience)
	}
}
