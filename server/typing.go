package server

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/zishang520/socket.io/v2/socket"

	"parley/chat"
)

// typist is the slice of chat.Typing the transports use.
type typist interface {
	Announce(ctx context.Context, d chat.Domain, from, to chat.UserID) (time.Time, error)
}

// handleTyping serves POST /api/user/:id/typing: the caller is typing to
// :id. The body may be empty or an (ignored) JSON object.
func handleTyping(log *slog.Logger, typing typist, l limits) gin.HandlerFunc {
	return func(c *gin.Context) {
		cl := currentCaller(c)
		peer, err := peerParam(c)
		if err == nil && c.Request.ContentLength != 0 {
			err = decodeJSON(c, l.maxBody, &struct{}{})
		}
		if err != nil {
			writeError(c, log, err)
			return
		}
		until, err := typing.Announce(c.Request.Context(), cl.Domain, cl.User, peer)
		if err != nil {
			writeError(c, log, err)
			return
		}
		c.JSON(http.StatusOK, struct {
			Success bool          `json:"success"`
			Until   timestampJSON `json:"until"`
		}{true, timestamp(until.UnixMilli())})
	}
}

// onTyping handles the Socket.IO event typing {to} with an optional ack:
// {ok:true, until} or the REST error envelope (with retryAfter on 429).
func (rt *realtime) onTyping(cl caller) func(args ...any) {
	return func(args ...any) {
		ack := func([]any, error) {}
		if n := len(args); n > 0 {
			if a, ok := args[n-1].(socket.Ack); ok {
				ack, args = a, args[:n-1]
			}
		}
		reply := func(err error, until time.Time) {
			if err != nil {
				ack([]any{ackError(err)}, nil)
				return
			}
			ack([]any{map[string]any{"ok": true, "until": toJSONMap(timestamp(until.UnixMilli()))}}, nil)
		}
		to, err := typingTarget(args)
		if err != nil {
			reply(err, time.Time{})
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		until, err := rt.typing.Announce(ctx, cl.Domain, cl.User, to)
		if err != nil && chat.KindOf(err) == chat.Internal {
			rt.log.Error("typing failed", "user", string(cl.User), "err", err)
		}
		reply(err, until)
	}
}

// typingTarget reads {to} from a typing event: a user id as a string or,
// for numeric ids, a JSON number.
func typingTarget(args []any) (chat.UserID, error) {
	bad := chat.E("server.typing", chat.Invalid, `typing takes {"to": <user id>}`, nil)
	if len(args) == 0 {
		return "", bad
	}
	m, ok := args[0].(map[string]any)
	if !ok {
		return "", bad
	}
	switch v := m["to"].(type) {
	case string:
		return chat.ParseUserID(v)
	case float64:
		if v < 0 || v != math.Trunc(v) || v > 1e15 {
			return "", bad
		}
		return chat.ParseUserID(strconv.FormatInt(int64(v), 10))
	}
	return "", bad
}
