package auth

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// DefaultUserClaim is the claim read for the user id when
	// Config.UserClaim is empty.
	DefaultUserClaim = "user_id"
	// DefaultMaxTokenBytes is the token length limit when
	// Config.MaxTokenBytes is zero.
	DefaultMaxTokenBytes = 8192
	// MinSecretBytes is the shortest accepted HMAC secret.
	MinSecretBytes = 16

	// fallbackUserClaim is read when the configured user claim is absent.
	fallbackUserClaim = "sub"
	// maxUserDigits bounds the length of a numeric user id, so that an
	// exponent form such as 1e999999 cannot make us build a huge string.
	maxUserDigits = 64
)

// Config holds everything a [Verifier] needs. Only plain values: the caller
// reads files and environment variables.
type Config struct {
	// Algorithms is the allow-list of JWS "alg" values, e.g. ["HS256"].
	// Supported: HS256 HS384 HS512 RS256 RS384 RS512 PS256 ES256 ES384
	// EdDSA. HMAC and asymmetric algorithms cannot be mixed.
	Algorithms []string
	// Secret is the HMAC key for HS* algorithms (at least MinSecretBytes).
	Secret []byte
	// PublicKeyPEM verifies RS*, PS*, ES* and EdDSA tokens: a PKIX public
	// key, a PKCS#1 RSA public key or a certificate, PEM encoded.
	PublicKeyPEM []byte
	// UserClaim names the claim holding the user id (default "user_id").
	// When it is absent from a token, "sub" is used instead.
	UserClaim string
	// DomainClaim names the string claim copied to Claims.Domain. When it
	// is set, every token must carry it, non-empty; "" disables it.
	DomainClaim string
	// Issuer, when set, must be the token's iss claim (exactly).
	Issuer string
	// Audience, when set, must be the token's aud claim or one element of
	// it.
	Audience string
	// AdminClaim and AdminValue mark platform admins: a token whose
	// AdminClaim is AdminValue, or a list holding it, has Claims.Admin.
	// An empty AdminClaim disables admins.
	AdminClaim, AdminValue string
	// RequireExp rejects tokens without an exp claim.
	RequireExp bool
	// Leeway is the clock skew tolerated for exp, nbf and iat.
	Leeway time.Duration
	// MaxTokenBytes rejects longer tokens before parsing (0 = 8192).
	MaxTokenBytes int
	// CacheTTL, when positive, keeps each token that verified and answers
	// it again from what it verified to, for at most this long and never
	// past its exp plus Leeway (see cache.go); 0 verifies every time.
	CacheTTL time.Duration
	// Now is the clock for exp, nbf and iat (nil = time.Now).
	Now func() time.Time
}

// Claims is what a verified token says about its bearer.
type Claims struct {
	// User is the user id, never empty. A numeric claim is rendered as its
	// exact decimal integer ("42"); a string claim is returned as is.
	User string
	// Domain is the value of Config.DomainClaim, or "" when that is not
	// configured.
	Domain string
	// Expires is the exp claim, or the zero time when the token has none.
	Expires time.Time
	// Admin is set for platform admins (see Config.AdminClaim).
	Admin bool
}

// Verifier checks tokens against one [Config]. It is safe for concurrent
// use.
type Verifier struct {
	parser      *jwt.Parser
	key         any // []byte for HMAC, a crypto public key otherwise
	userClaim   string
	domainClaim string
	adminClaim  string
	adminValue  string
	maxBytes    int
	audience    bool // an aud claim is required
	now         func() time.Time
	cache       *verifiedCache // nil: no cache (Config.CacheTTL 0)
	verified    atomic.Int64   // full verifications (signature and claims) so far
}

// NewVerifier validates c and returns a Verifier. It fails when no or an
// unknown algorithm is configured, when HMAC and asymmetric algorithms are
// mixed (algorithm confusion), when an HMAC algorithm has no secret or one
// shorter than MinSecretBytes, or when an asymmetric algorithm has no
// public key or one of the wrong type.
func NewVerifier(c Config) (*Verifier, error) {
	if len(c.Algorithms) == 0 {
		return nil, errors.New("auth: no algorithms configured")
	}
	var hmac, asym bool
	algs := make([]string, 0, len(c.Algorithms))
	described := make([]algorithm, 0, len(c.Algorithms))
	for _, name := range c.Algorithms {
		alg, ok := lookupAlg(name)
		if !ok {
			return nil, fmt.Errorf("auth: unsupported algorithm %q", name)
		}
		if alg.family == familyHMAC {
			hmac = true
		} else {
			asym = true
		}
		algs = append(algs, name)
		described = append(described, alg)
	}
	if hmac && asym {
		return nil, errors.New("auth: HMAC and asymmetric algorithms cannot be mixed")
	}

	v := &Verifier{
		userClaim:   c.UserClaim,
		domainClaim: c.DomainClaim,
		adminClaim:  c.AdminClaim,
		adminValue:  c.AdminValue,
		maxBytes:    c.MaxTokenBytes,
		now:         c.Now,
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.userClaim == "" {
		v.userClaim = DefaultUserClaim
	}
	if v.maxBytes == 0 {
		v.maxBytes = DefaultMaxTokenBytes
	}
	if v.maxBytes < 0 {
		return nil, fmt.Errorf("auth: MaxTokenBytes must not be negative, got %d", c.MaxTokenBytes)
	}
	if c.Leeway < 0 {
		return nil, fmt.Errorf("auth: Leeway must not be negative, got %s", c.Leeway)
	}
	if c.CacheTTL < 0 {
		return nil, fmt.Errorf("auth: CacheTTL must not be negative, got %s", c.CacheTTL)
	}
	if c.CacheTTL > 0 {
		v.cache = newVerifiedCache(c.CacheTTL, c.Leeway)
	}

	if hmac {
		if len(c.PublicKeyPEM) > 0 {
			return nil, errors.New("auth: HMAC algorithms take a secret, not a public key")
		}
		if len(c.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("auth: HMAC secret must be at least %d bytes, got %d", MinSecretBytes, len(c.Secret))
		}
		// Copy so later changes to the caller's slice cannot alter the key.
		v.key = append([]byte(nil), c.Secret...)
	} else {
		if len(c.Secret) > 0 {
			return nil, errors.New("auth: asymmetric algorithms take a public key, not a secret")
		}
		if len(c.PublicKeyPEM) == 0 {
			return nil, errors.New("auth: asymmetric algorithms need a public key")
		}
		key, err := parsePublicKey(c.PublicKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		for i, alg := range described {
			if err := checkKey(algs[i], alg, key); err != nil {
				return nil, fmt.Errorf("auth: %w", err)
			}
		}
		v.key = key
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithLeeway(c.Leeway),
		jwt.WithJSONNumber(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(v.now),
	}
	if c.RequireExp {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	if c.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(c.Issuer))
	}
	if c.Audience != "" {
		v.audience = true
		opts = append(opts, jwt.WithAudience(c.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Verify checks token and returns its claims. It returns an error matching
// ErrMissingToken when token is blank, ErrExpiredToken (and also
// ErrInvalidToken) when it has expired, and ErrInvalidToken for every other
// problem. The golang-jwt cause, if any, is wrapped as well. With
// Config.CacheTTL a token that verified lately, and would verify now, is
// answered from the claims it verified to (cache.go).
func (v *Verifier) Verify(token string) (Claims, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return Claims{}, ErrMissingToken
	}
	if len(token) > v.maxBytes {
		return Claims{}, fmt.Errorf("%w: %w: longer than %d bytes", ErrInvalidToken, ErrTooLong, v.maxBytes)
	}
	if v.cache == nil {
		return v.verify(token)
	}
	now := v.now()
	if c, ok := v.cache.get(token, now); ok {
		return c, nil
	}
	c, err := v.verify(token)
	if err == nil {
		v.cache.put(token, c, now)
	}
	return c, err
}

// verify checks token's signature and claims (Verify without the cache).
func (v *Verifier) verify(token string) (Claims, error) {
	v.verified.Add(1)
	mc := jwt.MapClaims{}
	keyAsked := false // the parser asks for the key only once the alg is allowed
	keyFunc := func(t *jwt.Token) (any, error) { keyAsked = true; return v.keyFunc(t) }
	if _, err := v.parser.ParseWithClaims(token, mc, keyFunc); err != nil {
		return Claims{}, fmt.Errorf("%w: %w: %w", ErrInvalidToken, v.why(err, mc, keyAsked), err)
	}

	var c Claims
	var err error
	if c.User, err = v.user(mc); err != nil {
		return Claims{}, fmt.Errorf("%w: %w: %w", ErrInvalidToken, ErrNoUser, err)
	}
	if v.domainClaim != "" {
		raw, ok := mc[v.domainClaim]
		if !ok {
			return Claims{}, fmt.Errorf("%w: %w: no %q claim", ErrInvalidToken, ErrNoDomain, v.domainClaim)
		}
		s, isString := raw.(string)
		if !isString || s == "" {
			return Claims{}, fmt.Errorf("%w: %w: claim %q must be a non-empty string, got %#v", ErrInvalidToken, ErrNoDomain, v.domainClaim, raw)
		}
		c.Domain = s
	}
	c.Admin = v.isAdmin(mc)
	exp, err := mc.GetExpirationTime()
	if err != nil { // unreachable: the validator already read exp
		return Claims{}, fmt.Errorf("%w: %w: %w", ErrInvalidToken, ErrBadClaims, err)
	}
	if exp != nil {
		c.Expires = exp.Time
	}
	return c, nil
}

// why maps a golang-jwt parse failure to the reason sentinel a client is
// told. keyAsked reports whether the parser got past the alg allow-list;
// mc holds the claims it decoded, if it got that far.
func (v *Verifier) why(err error, mc jwt.MapClaims, keyAsked bool) error {
	switch {
	case errors.Is(err, ErrCritical):
		return ErrCritical
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrMalformedToken
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && !keyAsked:
		return ErrAlgorithm
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return ErrBadSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpiredToken
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ErrNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ErrWrongIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ErrWrongAudience
	}
	if errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
		// Only exp, aud and iss can be required, and the validator checks
		// them in that order.
		if _, has := mc["exp"]; !has {
			return ErrNoExpiry
		}
		if _, has := mc["aud"]; !has && v.audience {
			return ErrWrongAudience
		}
		return ErrWrongIssuer
	}
	return ErrBadClaims
}

// KeyFingerprint identifies the verifier's key without revealing it: the
// SHA-256 of the HMAC secret or of the public key's PKIX encoding. Equal
// fingerprints mean the same key, so two tenants would accept each other's
// tokens.
func (v *Verifier) KeyFingerprint() [32]byte {
	if b, ok := v.key.([]byte); ok {
		return sha256.Sum256(b)
	}
	der, err := x509.MarshalPKIXPublicKey(v.key)
	if err != nil { // unreachable: NewVerifier only keeps keys it can use
		return sha256.Sum256([]byte(fmt.Sprintf("%T %p", v.key, v.key)))
	}
	return sha256.Sum256(der)
}

// keyFunc hands the configured key to the parser. The parser has already
// checked the alg against the allow-list, so HMAC verification can only
// ever see the secret and asymmetric verification only the public key.
func (v *Verifier) keyFunc(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, ErrCritical
	}
	return v.key, nil
}

// user extracts the user id from the configured claim, falling back to sub
// when the configured claim is absent.
func (v *Verifier) user(mc jwt.MapClaims) (string, error) {
	name := v.userClaim
	raw, ok := mc[name]
	if !ok {
		name = fallbackUserClaim
		raw, ok = mc[name]
	}
	if !ok {
		return "", fmt.Errorf("no %q or %q claim", v.userClaim, fallbackUserClaim)
	}
	switch u := raw.(type) {
	case string:
		if u == "" {
			return "", fmt.Errorf("claim %q is empty", name)
		}
		return u, nil
	case json.Number:
		s, ok := integerString(string(u))
		if !ok {
			return "", fmt.Errorf("claim %q must be a non-negative integer, got %s", name, u)
		}
		return s, nil
	default:
		return "", fmt.Errorf("claim %q must be a string or an integer, got %T", name, raw)
	}
}

// integerString renders the JSON number n as an exact decimal integer
// without leading zeros. It accepts fraction and exponent notation only
// when the value is exactly a non-negative integer (4.2e1 -> "42") and
// rejects negative numbers, fractions and results over maxUserDigits digits.
func integerString(n string) (string, bool) {
	if n == "" || n[0] == '-' {
		return "", false
	}
	mant, exp := n, 0
	if i := strings.IndexAny(n, "eE"); i >= 0 {
		e, err := strconv.Atoi(n[i+1:])
		if err != nil || e < -maxUserDigits || e > maxUserDigits {
			return "", false
		}
		mant, exp = n[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	if digits == "" {
		return "", false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", false
		}
	}
	exp -= len(frac)
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return "0", true
	}
	for exp < 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	if exp < 0 || len(digits)+exp > maxUserDigits {
		return "", false
	}
	return digits + strings.Repeat("0", exp), true
}

// isAdmin reports whether the admin claim is the admin value, or a list
// (a roles array) holding it.
func (v *Verifier) isAdmin(mc jwt.MapClaims) bool {
	if v.adminClaim == "" || v.adminValue == "" {
		return false
	}
	switch x := mc[v.adminClaim].(type) {
	case string:
		return x == v.adminValue
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok && s == v.adminValue {
				return true
			}
		}
	}
	return false
}
