package server

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// routeDeps is everything the routes hand to their handlers.
type routeDeps struct {
	log     *slog.Logger
	auth    authenticator
	chats   messageStore
	inboxes inboxReader
	users   userDirectory
	ready   pinger
	sio     http.Handler
	drain   *drain // refuses new realtime connections during shutdown
	blocks  blockStore
	hub     *hub
	sse     sseOptions
	// rateLimited counts a send refused by the rate limit.
	rateLimited func()
	// devTokens are the dev-mode users' tokens the demo page offers; empty
	// outside dev mode.
	devTokens []DevUser
	openapi   []byte // the OpenAPI document as JSON
	render    renderer
	limits    limits
	typing    typist
	presence  presenceTracker
}

// addRoutes lists every route on one screen.
func addRoutes(r *gin.Engine, d routeDeps) {
	r.GET("/healthz", handleHealth())
	r.GET("/readyz", handleReady(d.log, d.ready))
	r.Any("/socket.io/*any", gin.WrapH(d.sio))
	r.GET("/openapi.json", handleOpenAPI(d.openapi))

	r.GET("/api/events", d.drain.streams, requireCaller(d.log, d.auth, true), handleEvents(d.log, d.hub, d.render, d.sse))
	r.GET("/", handleHome(d.devTokens)) // dev mode: links to /demo; else 404
	r.GET("/demo", handleDemo(d.devTokens))
	r.GET("/demo/dev.json", handleDevTokens(d.devTokens))

	r.GET("/api", optionalCaller(d.log, d.auth), handleRoot(d.render))
	r.GET("/api/", optionalCaller(d.log, d.auth), handleRoot(d.render))
	api := r.Group("/api", requireCaller(d.log, d.auth, false))
	api.GET("/list", handleList(d.log, d.inboxes, d.users, d.render, d.limits))
	api.GET("/user/:id", handleHistory(d.log, d.chats, d.users, d.render, d.limits))
	api.POST("/user/:id", handleSend(d.log, d.chats, d.render, d.limits, d.rateLimited))
	api.POST("/user/:id/read", handleRead(d.log, d.chats, d.limits))
	api.POST("/user/:id/typing", handleTyping(d.log, d.typing, d.limits))
	api.GET("/presence", handlePresence(d.log, d.presence, d.render))
	api.POST("/user/:id/:messageId", handleEdit(d.log, d.chats, d.render, d.limits))
	api.DELETE("/user/:id/:messageId", handleDelete(d.log, d.chats))
	api.GET("/block", handleBlocked(d.log, d.blocks, d.render))
	api.POST("/block/:id", handleBlock(d.log, d.blocks, d.render, true))
	api.DELETE("/block/:id", handleBlock(d.log, d.blocks, d.render, false))
	api.DELETE("/admin/dm/:a/:b/:messageId", handleModerate(d.log, d.chats))

	r.NoRoute(requireCallerForTarget(d.log, d.auth), func(c *gin.Context) { writeError(c, d.log, noRoute(c.Request.URL.Path)) })
	r.NoMethod(func(c *gin.Context) { writeError(c, d.log, errMethod) })
}

// noRoute is errNoRoute, or invalidTarget for a path of the seed's shape
// /api/<target>/<id>[/<messageId>] whose target is none of Parley's own
// (the seed answered GET /api/villain/1 with MESSAGES_INVALID_TARGET).
func noRoute(path string) error {
	if target, ok := seedTarget(path); ok {
		return invalidTarget(target)
	}
	return errNoRoute
}

// apiPrefixes are the first segments of Parley's own /api routes.
var apiPrefixes = []string{"user", "list", "block", "admin", "presence", "events"}

func seedTarget(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/api/")
	if !ok {
		return "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") || slices.Contains(apiPrefixes, parts[0]) {
		return "", false
	}
	return parts[0], true
}

// requireCallerForTarget authenticates a request that noRoute answers with
// invalidTarget, as the seed did: without a token the answer is 401.
func requireCallerForTarget(log *slog.Logger, a authenticator) gin.HandlerFunc {
	auth := requireCaller(log, a, false)
	return func(c *gin.Context) {
		if _, ok := seedTarget(c.Request.URL.Path); ok {
			auth(c)
		}
	}
}
