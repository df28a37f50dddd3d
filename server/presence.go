package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"parley/chat"
	"parley/presence"
)

// presenceTracker is the slice of presence.Tracker the transports use.
type presenceTracker interface {
	Connect(ctx context.Context, d chat.Domain, u chat.UserID) error
	Disconnect(ctx context.Context, d chat.Domain, u chat.UserID) error
	Lookup(ctx context.Context, d chat.Domain, viewer chat.UserID, ids []chat.UserID) ([]presence.Status, error)
}

// maxPresenceIDs bounds one GET /api/presence.
const maxPresenceIDs = 100

// deviceOnline counts a connection (socket or SSE stream) of cl as a device
// and returns the function that counts it out; that one is safe to call
// twice. Failures are logged: a connection never fails for presence.
func deviceOnline(log *slog.Logger, p presenceTracker, cl caller) (offline func()) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.Connect(ctx, cl.Domain, cl.User); err != nil {
		log.Warn("presence connect failed", "user", string(cl.User), "err", err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := p.Disconnect(ctx, cl.Domain, cl.User); err != nil {
				log.Warn("presence disconnect failed", "user", string(cl.User), "err", err)
			}
		})
	}
}

// handlePresence serves GET /api/presence?ids=1,2,3: whether each user of
// the caller's domain is online, and since when (or when last seen). A
// user on either side of a block with the caller is reported offline,
// never seen (at null).
func handlePresence(log *slog.Logger, p presenceTracker, r renderer) gin.HandlerFunc {
	type statusJSON struct {
		ID     any            `json:"id"`
		Online bool           `json:"online"`
		At     *timestampJSON `json:"at"`
	}
	return func(c *gin.Context) {
		cl := currentCaller(c)
		ids, err := presenceIDs(c.Query("ids"))
		if err != nil {
			writeError(c, log, err)
			return
		}
		st, err := p.Lookup(c.Request.Context(), cl.Domain, cl.User, ids)
		if err != nil {
			writeError(c, log, err)
			return
		}
		out := make([]statusJSON, len(st))
		for i, s := range st {
			out[i] = statusJSON{ID: r.id(s.User), Online: s.Online, At: optionalTimestamp(s.At)}
		}
		c.JSON(http.StatusOK, gin.H{"presence": out})
	}
}

// presenceIDs parses ?ids=: 1 to maxPresenceIDs comma-separated user ids.
func presenceIDs(s string) ([]chat.UserID, error) {
	const op = "server.presence"
	if strings.TrimSpace(s) == "" {
		return nil, chat.E(op, chat.Invalid, `"ids" must list 1-100 comma-separated user ids`, nil)
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxPresenceIDs {
		return nil, chat.E(op, chat.Invalid, `"ids" may list at most 100 user ids`, nil)
	}
	ids := make([]chat.UserID, len(parts))
	for i, p := range parts {
		u, err := chat.ParseUserID(strings.TrimSpace(p))
		if err != nil {
			return nil, err
		}
		ids[i] = u
	}
	return ids, nil
}
