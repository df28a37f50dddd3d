package server

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"parley/auth"
	"parley/chat"
	"parley/config"
)

// caller is who a request or socket acts as: a validated user of a domain.
type caller struct {
	Domain  chat.Domain
	User    chat.UserID
	Expires time.Time // zero when the token has no exp
	Admin   bool      // a platform admin: may delete any message of Domain
}

const callerKey = "parley.caller"

func currentCaller(c *gin.Context) caller {
	v, _ := c.Get(callerKey)
	cl, _ := v.(caller)
	return cl
}

// tokenVerifier is the slice of auth.Verifier the server needs.
type tokenVerifier interface {
	Verify(token string) (auth.Claims, error)
}

// authenticator turns a token and the request host into a caller: it is
// shared by REST, SSE and the Socket.IO handshake so all accept exactly the
// same tokens. It holds the tenant rule: a token is valid only in the
// domain it was issued for, which is bound either by a per-domain key or by
// the domain claim, never by the client-chosen Host header alone.
type authenticator struct {
	// verifier checks every token when all domains share one key; nil when
	// each domain has its own (domainKeys).
	verifier tokenVerifier
	// domainKeys verifies the tokens of each domain with that domain's key
	// (PARLEY_JWT_DOMAIN_KEYS_DIR); a domain without one accepts no token.
	domainKeys map[chat.Domain]tokenVerifier
	// domainClaim: every token names its domain (PARLEY_JWT_DOMAIN_CLAIM);
	// the verifier refuses tokens without it.
	domainClaim   bool
	hostDomains   map[string]chat.Domain // config.CanonicalHost(host) -> domain
	defaultDomain chat.Domain
}

// authenticate verifies token and resolves the domain. The request host's
// domain is its PARLEY_DOMAINS entry, else the default domain. With
// per-domain keys the token must verify with that domain's key; with a
// domain claim the claim must name that domain, except on an unmapped host
// with one shared key, where the claim picks the domain. Anything else is
// refused with errOtherDomain.
func (a authenticator) authenticate(token, host string) (caller, error) {
	if strings.TrimSpace(token) == "" {
		return caller{}, auth.ErrMissingToken
	}
	d, bound := a.hostDomains[config.CanonicalHost(host)]
	if !bound {
		d = a.defaultDomain
	}
	v := a.verifier
	if a.domainKeys != nil {
		if v = a.domainKeys[d]; v == nil {
			return caller{}, errOtherDomain
		}
		bound = true // only d's key verifies the token
	}
	claims, err := v.Verify(token)
	if err != nil {
		return caller{}, err
	}
	user, err := chat.ParseUserID(claims.User)
	if err != nil {
		return caller{}, errBadUserClaim
	}
	if a.domainClaim {
		named, err := chat.ParseDomain(claims.Domain)
		if err != nil || (bound && named != d) {
			return caller{}, errOtherDomain
		}
		d = named
	}
	return caller{Domain: d, User: user, Expires: claims.Expires, Admin: claims.Admin}, nil
}

// optionalCaller is requireCaller for GET /api/, which the seed answered
// without a token too: no token leaves the request without a caller; a bad
// token is still refused.
func optionalCaller(log *slog.Logger, a authenticator) gin.HandlerFunc {
	required := requireCaller(log, a, false)
	return func(c *gin.Context) {
		if token, err := auth.RequestToken(c.Request.Header); err == nil && strings.TrimSpace(token) == "" {
			c.Next()
			return
		}
		required(c)
	}
}

// requireCaller authenticates every /api request. With queryToken, a
// ?token= is a token source too (EventSource cannot set headers). Two
// different tokens in one request are refused (auth.ErrAmbiguousToken).
func requireCaller(log *slog.Logger, a authenticator, queryToken bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		var query []string
		if queryToken {
			query = c.QueryArray("token")
		}
		token, err := auth.RequestToken(c.Request.Header, query...)
		if err != nil {
			writeError(c, log, err)
			return
		}
		cl, err := a.authenticate(token, c.Request.Host)
		if err != nil {
			writeError(c, log, err)
			return
		}
		c.Set(callerKey, cl)
		c.Next()
	}
}

// cors answers preflights and sets CORS headers for allowed origins only,
// on every route, /socket.io/ included; with no origins configured the API
// is same-origin only. Any other origin gets no CORS header at all.
func cors(origins []string) gin.HandlerFunc {
	any := slices.Contains(origins, "*")
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		if origin != "" && (any || slices.Contains(origins, origin)) {
			h := c.Writer.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Credentials", "true")
			if c.Request.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Content-Type, X-Auth-Token, Authorization")
				h.Set("Access-Control-Max-Age", "600")
				c.AbortWithStatus(http.StatusNoContent)
				return
			}
		}
		c.Next()
	}
}

// accessLog logs one line per request and turns panics into a 500 envelope.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(p)
				}
				log.ErrorContext(c.Request.Context(), "panic", "route", c.FullPath(), "panic", p)
				writeError(c, log, errors.New("panic"))
			}
			log.LogAttrs(c.Request.Context(), slog.LevelInfo, "request",
				slog.String("method", c.Request.Method), slog.String("path", c.Request.URL.Path),
				slog.Int("status", c.Writer.Status()), slog.Duration("took", time.Since(start)))
		}()
		c.Next()
	}
}
