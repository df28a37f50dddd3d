package server

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"parley/chat"
)

// handleRead serves POST /api/user/:id/read {upTo}: the caller has read the
// DM up to message upTo. The horizon never moves back; when it moves, both
// users get message:read.
func handleRead(log *slog.Logger, chats messageStore, l limits) gin.HandlerFunc {
	type request struct {
		UpTo *string `json:"upTo"`
	}
	return func(c *gin.Context) {
		cl := currentCaller(c)
		var req request
		peer, ok := peerAndBody(c, log, l, &req)
		if !ok {
			return
		}
		if req.UpTo == nil || *req.UpTo == "" {
			writeError(c, log, chat.E("server.read", chat.Invalid, `"upTo" must be a message id`, nil))
			return
		}
		st, conv, err := chats.MarkRead(c.Request.Context(), cl.Domain, cl.User, peer, *req.UpTo)
		if err != nil {
			writeError(c, log, err)
			return
		}
		c.JSON(http.StatusOK, struct {
			State    writeStateJSON `json:"state"`
			LastRead *readMarkJSON  `json:"last_read"`
			Unread   int64          `json:"unread"`
			Moved    bool           `json:"moved"`
		}{writeState(conv, cl.User), readMark(st.Mark), st.Unread, st.Moved})
	}
}
