package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"parley/auth"
	"parley/chat"
	"parley/config"
)

// newAuthenticator builds the token check from cfg: one verifier for the
// single key (PARLEY_JWT_SECRET or PARLEY_JWT_PUBLIC_KEY_FILE), or one per
// domain from PARLEY_JWT_DOMAIN_KEYS_DIR.
func newAuthenticator(cfg config.Config) (authenticator, error) {
	a := authenticator{domainClaim: cfg.JWTDomainClaim != "", defaultDomain: chat.Domain(cfg.DefaultDomain),
		hostDomains: make(map[string]chat.Domain, len(cfg.Domains))}
	for host, handle := range cfg.Domains {
		a.hostDomains[host] = chat.Domain(handle) // config keys are canonical already
	}
	base := auth.Config{Algorithms: cfg.JWTAlgorithms, UserClaim: cfg.JWTUserClaim, DomainClaim: cfg.JWTDomainClaim,
		Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, RequireExp: cfg.JWTRequireExp, Leeway: cfg.JWTLeeway,
		CacheTTL:   cfg.JWTCacheTTL,
		AdminClaim: cfg.AdminClaim, AdminValue: cfg.AdminValue}
	if cfg.JWTDomainKeysDir != "" {
		keys, err := loadDomainKeys(cfg.JWTDomainKeysDir, mappedDomains(cfg), a.defaultDomain, base)
		if err != nil {
			return authenticator{}, err
		}
		a.domainKeys = keys
		return a, nil
	}
	if cfg.JWTSecret != "" {
		base.Secret = []byte(cfg.JWTSecret)
	}
	if cfg.JWTPublicKeyFile != "" {
		pem, err := os.ReadFile(cfg.JWTPublicKeyFile)
		if err != nil {
			return authenticator{}, fmt.Errorf("PARLEY_JWT_PUBLIC_KEY_FILE: %w", err)
		}
		base.PublicKeyPEM = pem
	}
	v, err := auth.NewVerifier(base)
	if err != nil {
		return authenticator{}, fmt.Errorf("jwt: %w", err)
	}
	a.verifier = v
	return a, nil
}

// mappedDomains lists the PARLEY_DOMAINS handles, sorted, once each.
func mappedDomains(cfg config.Config) []chat.Domain {
	var out []chat.Domain
	for _, h := range cfg.Domains {
		out = append(out, chat.Domain(h))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// loadDomainKeys reads dir, which holds one key per domain: <handle>.key
// with an HMAC secret (trailing newlines ignored) or <handle>.pem with a
// public key or certificate. Other files, and names starting with a dot
// (a Kubernetes secret volume's bookkeeping), are ignored. Every mapped
// domain needs a key, the default domain may have one (without it no token
// is valid on an unmapped host), and no two domains may share a key: that
// would let one domain's tokens into the other.
func loadDomainKeys(dir string, mapped []chat.Domain, def chat.Domain, base auth.Config) (map[chat.Domain]tokenVerifier, error) {
	const name = "PARLEY_JWT_DOMAIN_KEYS_DIR"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(name+": "+format, args...)) }
	handles := mapped
	if !slices.Contains(handles, def) {
		handles = append(slices.Clip(handles), def)
	}
	files := map[chat.Domain]string{}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if strings.HasPrefix(e.Name(), ".") || (ext != ".key" && ext != ".pem") {
			continue
		}
		if st, err := os.Stat(filepath.Join(dir, e.Name())); err != nil || !st.Mode().IsRegular() {
			continue
		}
		d := chat.Domain(strings.TrimSuffix(e.Name(), ext))
		switch {
		case !slices.Contains(handles, d):
			bad("%s names no configured domain (PARLEY_DOMAINS handles and PARLEY_DEFAULT_DOMAIN: %s)", e.Name(), joinDomains(handles))
		case files[d] != "":
			bad("domain %s has two keys, %s and %s; keep one", d, files[d], e.Name())
		default:
			files[d] = e.Name()
		}
	}
	out := map[chat.Domain]tokenVerifier{}
	owner := map[[32]byte]chat.Domain{}
	for _, d := range handles {
		file, ok := files[d]
		if !ok {
			if slices.Contains(mapped, d) {
				bad("no key for domain %s of PARLEY_DOMAINS (want %s.key or %s.pem)", d, d, d)
			}
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			bad("%w", err)
			continue
		}
		c := base
		if strings.HasSuffix(file, ".key") {
			c.Secret = []byte(strings.TrimRight(string(raw), "\r\n"))
		} else {
			c.PublicKeyPEM = raw
		}
		v, err := auth.NewVerifier(c)
		if err != nil {
			bad("%s: %w", file, err)
			continue
		}
		fp := v.KeyFingerprint()
		if other, dup := owner[fp]; dup {
			bad("domains %s and %s have the same key; each domain needs its own, or its tokens are valid in the other", other, d)
			continue
		}
		owner[fp] = d
		out[d] = v
	}
	if len(errs) == 0 && len(out) == 0 {
		bad("%s holds no key for any domain (want <handle>.key or <handle>.pem)", dir)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func joinDomains(ds []chat.Domain) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = string(d)
	}
	return strings.Join(s, " ")
}
