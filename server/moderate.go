package server

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"parley/chat"
)

// handleModerate serves DELETE /api/admin/dm/:a/:b/:messageId: a platform
// admin deletes any message of the DM between a and b in the admin's own
// domain (the token decides the domain, so another domain is unreachable).
// Every deletion is written to the log for audit.
func handleModerate(log *slog.Logger, chats messageStore) gin.HandlerFunc {
	return func(c *gin.Context) {
		cl := currentCaller(c)
		if !cl.Admin {
			writeError(c, log, chat.E("server.moderate", chat.Forbidden, "only admins can delete others' messages", nil))
			return
		}
		a, err := chat.ParseUserID(c.Param("a"))
		if err != nil {
			writeError(c, log, err)
			return
		}
		b, err := chat.ParseUserID(c.Param("b"))
		if err != nil {
			writeError(c, log, err)
			return
		}
		m, conv, err := chats.Delete(c.Request.Context(), chat.DeleteRequest{Domain: cl.Domain, Caller: a, Peer: b,
			MessageID: c.Param("messageId"), Moderator: true})
		if err != nil {
			writeError(c, log, err)
			return
		}
		log.InfoContext(c.Request.Context(), "admin deleted a message", "audit", true, "admin", string(cl.User),
			"domain", string(cl.Domain), "conversation", conv.Key(), "message", m.ID, "author", string(m.Author))
		c.JSON(http.StatusOK, deleted(conv, m.Author))
	}
}
