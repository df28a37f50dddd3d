package server

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
)

// handleBlock serves POST /api/block/:id (block) and DELETE /api/block/:id
// (unblock). Both are idempotent.
func handleBlock(log *slog.Logger, blocks blockStore, r renderer, block bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		cl := currentCaller(c)
		target, err := peerParam(c)
		if err == nil {
			if block {
				err = blocks.Block(c.Request.Context(), cl.Domain, cl.User, target)
			} else {
				err = blocks.Unblock(c.Request.Context(), cl.Domain, cl.User, target)
			}
		}
		if err != nil {
			writeError(c, log, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"success": true, "user": r.id(target), "blocked": block})
	}
}

// handleBlocked serves GET /api/block: the users the caller has blocked.
func handleBlocked(log *slog.Logger, blocks blockStore, r renderer) gin.HandlerFunc {
	return func(c *gin.Context) {
		cl := currentCaller(c)
		ids, err := blocks.Blocked(c.Request.Context(), cl.Domain, cl.User)
		if err != nil {
			writeError(c, log, err)
			return
		}
		out := make([]any, len(ids))
		for i, id := range ids {
			out[i] = r.id(id)
		}
		c.JSON(http.StatusOK, gin.H{"blocked": out})
	}
}
