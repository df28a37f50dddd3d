package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"parley/auth"
	"parley/chat"
)

// Transport-level failures that never reach the domain.
var (
	errTooLarge     = errors.New("request body too large")
	errNotJSON      = errors.New("request body must be application/json")
	errNoRoute      = errors.New("route not found")
	errMethod       = errors.New("method not allowed")
	errOtherDomain  = errors.New("token is for another domain")
	errBadUserClaim = errors.New("token user claim is not a valid user id")
	// errTooManyPending refuses an Engine.IO handshake while the node holds
	// PARLEY_MAX_PENDING_SESSIONS sessions that have not authenticated yet.
	errTooManyPending = errors.New("too many unauthenticated realtime sessions on this node")
	// errTooManyConnections refuses a socket or SSE stream beyond
	// PARLEY_MAX_CONNECTIONS_PER_USER on this node.
	errTooManyConnections = errors.New("too many connections for this user")
	// errOriginRefused refuses a websocket handshake from an origin that
	// PARLEY_CORS_ORIGINS does not allow.
	errOriginRefused = errors.New("origin not allowed")
	// errLegacyClient refuses an Engine.IO v3 handshake (socket.io-client
	// 1.x/2.x) while PARLEY_LEGACY_SOCKETS is off (legacy.go).
	errLegacyClient = errors.New("Engine.IO v3 client without legacy mode")
)

// invalidTarget is a route the seed served for any conversation kind,
// /api/<target>/<id>[/<messageId>], with a target other than user.
type invalidTarget string

func (t invalidTarget) Error() string { return fmt.Sprintf("Invalid target %q", string(t)) }

// apiError is the seed's flat error envelope. Code and Name are the seed's
// where the seed had the case (NOT_AUTHENTICATED UnauthenticatedError,
// INVALID_TOKEN_ERR JsonWebTokenError, ...); Parley's own codes carry a
// name derived from the code (TOO_MANY_REQUESTS -> TooManyRequestsError).
type apiError struct {
	Error   bool   `json:"error"`
	Code    string `json:"code"`
	Name    string `json:"name"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// The seed's error names.
const (
	nameUnauthenticated = "UnauthenticatedError"
	nameJWT             = "JsonWebTokenError"
	nameExpired         = "TokenExpiredError"
	nameArgument        = "ArgumentError"
	nameRouteNotFound   = "RouteNotFoundError"
	nameNotFound        = "NotFound"
)

// errorName derives the name of a Parley-only code: the code in
// CamelCase, ending in Error (INTERNAL_ERROR -> InternalError).
func errorName(code string) string {
	var b strings.Builder
	for _, w := range strings.Split(strings.ToLower(code), "_") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	if !strings.HasSuffix(b.String(), "Error") {
		b.WriteString("Error")
	}
	return b.String()
}

// classify is the only place that knows HTTP statuses and error codes. The
// Socket.IO handshake reuses it, so both transports speak one vocabulary.
func classify(err error) apiError {
	e := func(status int, code, msg string) apiError {
		return apiError{Error: true, Code: code, Name: errorName(code), Message: msg, Status: status}
	}
	seed := func(status int, code, name, msg string) apiError {
		return apiError{Error: true, Code: code, Name: name, Message: msg, Status: status}
	}
	switch {
	case errors.Is(err, auth.ErrAmbiguousToken):
		return e(http.StatusBadRequest, "AMBIGUOUS_TOKEN", "two different tokens in one request: send exactly one (X-Auth-Token, Authorization: Bearer or ?token=)")
	case errors.Is(err, auth.ErrMissingToken):
		return seed(http.StatusUnauthorized, "NOT_AUTHENTICATED", nameUnauthenticated, "You are not authenticated: send X-Auth-Token or Authorization: Bearer")
	case errors.Is(err, auth.ErrExpiredToken):
		return seed(http.StatusUnauthorized, "INVALID_TOKEN_ERR", nameExpired, auth.Reason(err))
	case errors.Is(err, auth.ErrNoUser), errors.Is(err, errBadUserClaim):
		return seed(http.StatusUnauthorized, "INVALID_TOKEN_ERR", nameUnauthenticated, auth.Reason(auth.ErrNoUser))
	case errors.Is(err, auth.ErrNoDomain), errors.Is(err, errOtherDomain):
		return seed(http.StatusUnauthorized, "INVALID_TOKEN_ERR", nameUnauthenticated, "token is not valid for this domain")
	case errors.Is(err, auth.ErrInvalidToken):
		return seed(http.StatusUnauthorized, "INVALID_TOKEN_ERR", nameJWT, auth.Reason(err))
	case errors.Is(err, chat.ErrUnknownType):
		return seed(http.StatusBadRequest, "MESSAGES_INVALID_TYPE", nameArgument, chat.MessageOf(err))
	case errors.As(err, new(invalidTarget)):
		return seed(http.StatusBadRequest, "MESSAGES_INVALID_TARGET", nameArgument, err.Error())
	case errors.Is(err, errTooLarge):
		return e(http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "request body too large")
	case errors.Is(err, errTooManyPending):
		return e(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "too many unauthenticated realtime sessions on this node; retry later")
	case errors.Is(err, errTooManyConnections):
		return e(http.StatusTooManyRequests, "TOO_MANY_CONNECTIONS", "too many open connections (sockets and event streams) for this user; close one first")
	case errors.Is(err, errOriginRefused):
		return e(http.StatusForbidden, "FORBIDDEN", "origin not allowed: see PARLEY_CORS_ORIGINS")
	case errors.Is(err, errLegacyClient):
		return e(http.StatusBadRequest, "UNSUPPORTED_PROTOCOL", legacyRefusal)
	case errors.Is(err, errNotJSON):
		return e(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "request body must be application/json")
	case errors.Is(err, errNoRoute):
		return seed(http.StatusNotFound, "NOT_FOUND", nameRouteNotFound, "route not found")
	case errors.Is(err, errMethod):
		return e(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "method not allowed")
	case errors.Is(err, chat.ErrModerationUnavailable):
		return e(http.StatusServiceUnavailable, "MODERATION_UNAVAILABLE", chat.MessageOf(err))
	}
	msg := chat.MessageOf(err)
	switch chat.KindOf(err) {
	case chat.Invalid:
		return seed(http.StatusBadRequest, "BAD_REQUEST", nameArgument, msg)
	case chat.NotFound:
		return seed(http.StatusNotFound, "NOT_FOUND", nameNotFound, msg)
	case chat.Forbidden:
		return e(http.StatusForbidden, "FORBIDDEN", msg)
	case chat.Conflict:
		return e(http.StatusConflict, "CONFLICT", msg)
	case chat.Unavailable:
		return e(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", msg)
	case chat.RateLimited:
		return e(http.StatusTooManyRequests, "TOO_MANY_REQUESTS", msg)
	case chat.Canceled:
		return e(statusClientClosed, "CLIENT_CLOSED_REQUEST", msg)
	case chat.Rejected:
		return e(http.StatusForbidden, "MESSAGE_REJECTED", msg)
	default:
		return e(http.StatusInternalServerError, "INTERNAL_ERROR", "internal error")
	}
}

// statusClientClosed is nginx's 499: the client went away before the
// answer. Nobody reads it; it keeps such requests apart from server faults
// in the access log and the request metrics.
const statusClientClosed = 499

// writeError answers with the envelope for err and logs server faults (5xx)
// once, here at the edge; a client that went away is logged at info.
func writeError(c *gin.Context, log *slog.Logger, err error) {
	body := classify(err)
	switch {
	case body.Status == statusClientClosed:
		log.InfoContext(c.Request.Context(), "request canceled by the client", "route", c.FullPath(), "status", body.Status, "err", err)
	case body.Status >= 500:
		log.ErrorContext(c.Request.Context(), "request failed", "route", c.FullPath(), "status", body.Status, "err", err)
	}
	if wait := retryAfter(err); wait > 0 {
		c.Header("Retry-After", strconv.FormatInt(wait, 10))
	}
	c.AbortWithStatusJSON(body.Status, body)
}

// retryAfter is how many whole seconds a RateLimited caller should wait,
// rounded up so that a client that waits this long succeeds; 0 for any
// other error.
func retryAfter(err error) int64 {
	wait := chat.RetryAfterOf(err)
	if wait <= 0 {
		return 0
	}
	return int64((wait + time.Second - 1) / time.Second)
}

// ackError is the Socket.IO ack of a failed client event: the REST
// envelope, plus retryAfter (seconds, as the Retry-After header) on 429
// and 503.
func ackError(err error) map[string]any {
	m := toJSONMap(classify(err))
	if wait := retryAfter(err); wait > 0 && m != nil {
		m["retryAfter"] = wait
	}
	return m
}
