package server

import (
	"log/slog"
	"net/http"

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

	api := r.Group("/api", requireCaller(d.log, d.auth, false))
	api.GET("", handleRoot(d.render))
	api.GET("/", handleRoot(d.render))
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

	r.NoRoute(func(c *gin.Context) { writeError(c, d.log, errNoRoute) })
	r.NoMethod(func(c *gin.Context) { writeError(c, d.log, errMethod) })
}
