package server

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"parley/auth"
	"parley/chat"
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
// shared by REST and the Socket.IO handshake so both accept exactly the same
// tokens.
type authenticator struct {
	verifier      tokenVerifier
	hostDomains   map[string]chat.Domain // lower-case host without port -> domain
	defaultDomain chat.Domain
}

// authenticate verifies token and resolves the domain: the request host's
// configured domain, else the token's domain claim, else the default. A
// token whose domain claim names another domain than the host's is refused.
func (a authenticator) authenticate(token, host string) (caller, error) {
	if strings.TrimSpace(token) == "" {
		return caller{}, auth.ErrMissingToken
	}
	claims, err := a.verifier.Verify(token)
	if err != nil {
		return caller{}, err
	}
	user, err := chat.ParseUserID(claims.User)
	if err != nil {
		return caller{}, errBadUserClaim
	}
	d, fromHost := a.hostDomains[hostOnly(host)]
	switch {
	case claims.Domain != "" && fromHost && string(d) != claims.Domain:
		return caller{}, errOtherDomain
	case claims.Domain != "" && !fromHost:
		if d, err = chat.ParseDomain(claims.Domain); err != nil {
			return caller{}, errOtherDomain
		}
	case !fromHost:
		d = a.defaultDomain
	}
	return caller{Domain: d, User: user, Expires: claims.Expires, Admin: claims.Admin}, nil
}

func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(host)
}

// requireCaller authenticates every /api request. With queryToken, a
// ?token= is accepted when no header carries one: EventSource cannot set
// headers.
func requireCaller(log *slog.Logger, a authenticator, queryToken bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		token := auth.TokenFromHeader(c.Request.Header)
		if token == "" && queryToken {
			token = c.Query("token")
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
