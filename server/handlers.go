package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"parley/chat"
	"parley/inbox"
	"parley/userapi"
)

// Consumer-owned slices of the domain the handlers use.
type (
	messageStore interface {
		Send(ctx context.Context, r chat.SendRequest) (chat.Message, chat.Conversation, error)
		History(ctx context.Context, conv chat.Conversation, p chat.Page) (chat.HistoryPage, error)
		HistoryByCursor(ctx context.Context, conv chat.Conversation, c chat.Cursor) (chat.HistoryPage, error)
		Edit(ctx context.Context, r chat.EditRequest) (chat.Message, chat.Conversation, error)
		Delete(ctx context.Context, r chat.DeleteRequest) (chat.Message, chat.Conversation, error)
		MarkRead(ctx context.Context, d chat.Domain, caller, peer chat.UserID, upTo string) (chat.ReadState, chat.Conversation, error)
	}
	blockStore interface {
		Block(ctx context.Context, d chat.Domain, u, target chat.UserID) error
		Unblock(ctx context.Context, d chat.Domain, u, target chat.UserID) error
		Blocked(ctx context.Context, d chat.Domain, u chat.UserID) ([]chat.UserID, error)
	}
	inboxReader interface {
		List(ctx context.Context, d chat.Domain, u chat.UserID, p chat.Page) (inbox.Page, error)
		ListByCursor(ctx context.Context, d chat.Domain, u chat.UserID, c chat.Cursor) (inbox.Page, error)
	}
	userDirectory interface {
		Lookup(ctx context.Context, ids []string) map[string]userapi.User
	}
)

// limits are the request bounds handlers enforce.
type limits struct {
	maxBody    int64
	perPage    int // default page size
	maxPerPage int
}

// pageParam reads ?page= and ?limit= (alias per_page, as the seed's README
// says).
func pageParam(c *gin.Context, l limits) (chat.Page, error) {
	size := c.Query("limit")
	if size == "" {
		size = c.Query("per_page")
	}
	return chat.ParsePage(c.Query("page"), size, l.perPage, l.maxPerPage)
}

// cursorParams reads ?before= ?after= ?since= ?until= (nil when absent) and
// the page number, which they exclude.
func cursorParams(c *gin.Context) chat.CursorParams {
	q := func(name string) *string {
		if v, ok := c.GetQuery(name); ok {
			return &v
		}
		return nil
	}
	return chat.CursorParams{Before: q("before"), After: q("after"), Since: q("since"), Until: q("until"), Page: c.Query("page")}
}

// peerAndBody reads the :id path segment and the JSON body of a write; on
// failure it has answered with the error and returns false.
func peerAndBody(c *gin.Context, log *slog.Logger, l limits, body any) (chat.UserID, bool) {
	peer, err := peerParam(c)
	if err == nil {
		err = decodeJSON(c, l.maxBody, body)
	}
	if err != nil {
		writeError(c, log, err)
		return "", false
	}
	return peer, true
}

// peerParam reads the :id path segment as a user id.
func peerParam(c *gin.Context) (chat.UserID, error) { return chat.ParseUserID(c.Param("id")) }

// handleRoot serves GET /api/: a token check for clients.
func handleRoot(r renderer) gin.HandlerFunc {
	return func(c *gin.Context) {
		if _, ok := c.Get(callerKey); !ok { // no token (optionalCaller)
			c.JSON(http.StatusOK, gin.H{"authenticated": false, "success": true,
				"message": "Welcome to a realtime chat API"})
			return
		}
		cl := currentCaller(c)
		c.JSON(http.StatusOK, gin.H{"authenticated": true, "success": true,
			"message": "Authenticated as user " + string(cl.User) + " of domain " + string(cl.Domain),
			"user":    r.id(cl.User), "domain": cl.Domain})
	}
}

// handleList serves GET /api/list: the caller's inbox, newest first, by page
// number or by cursor (?before= / ?after= an inbox position).
func handleList(log *slog.Logger, inboxes inboxReader, users userDirectory, r renderer, l limits) gin.HandlerFunc {
	type entryJSON struct {
		Type      string        `json:"type"`
		ID        any           `json:"id"`
		Latest    *messageJSON  `json:"latest"`
		Timestamp timestampJSON `json:"timestamp"`
		User      userJSON      `json:"user"`
		Unread    int64         `json:"unread"`
		LastRead  *readMarkJSON `json:"last_read"`
	}
	return func(c *gin.Context) {
		cl := currentCaller(c)
		p, err := pageParam(c, l)
		if err != nil {
			writeError(c, log, err)
			return
		}
		cur, err := chat.ParseInboxCursor(cursorParams(c), p.Size)
		if err != nil {
			writeError(c, log, err)
			return
		}
		var page inbox.Page
		if cur.IsZero() {
			page, err = inboxes.List(c.Request.Context(), cl.Domain, cl.User, p)
		} else {
			page, err = inboxes.ListByCursor(c.Request.Context(), cl.Domain, cl.User, cur)
		}
		if err != nil {
			writeError(c, log, err)
			return
		}
		ids := make([]string, len(page.Entries))
		for i, e := range page.Entries {
			ids[i] = string(e.Peer)
		}
		found := users.Lookup(c.Request.Context(), ids)
		entries := make([]entryJSON, len(page.Entries))
		for i, e := range page.Entries {
			entries[i] = entryJSON{Type: "user", ID: r.id(e.Peer), Timestamp: timestamp(e.Epoch), User: r.user(e.Peer, found),
				Unread: e.Unread, LastRead: readMark(e.Read)}
			if e.Latest != nil {
				m := r.message(*e.Latest)
				entries[i].Latest = &m
			}
		}
		next, prev := nextPrev(len(page.Entries), page.Older, page.Newer, 0, len(page.Entries)-1, func(i int) string {
			return chat.InboxPosition{Peer: page.Entries[i].Peer, Epoch: page.Entries[i].Epoch, AtEpoch: true}.String()
		})
		key := chat.InboxKey(cl.Domain, cl.User)
		var state any = cursorState(key, cur, page.Total, next, prev)
		if cur.IsZero() {
			ps := pageState(key, p, page.Total)
			ps.Next, ps.Prev = next, prev
			state = ps
		}
		c.JSON(http.StatusOK, struct {
			State   any         `json:"state"`
			Entries []entryJSON `json:"entries"`
			Unread  int64       `json:"unread"` // over all conversations
		}{state, entries, page.Unread})
	}
}

// handleHistory serves GET /api/user/:id: part of the DM, oldest first,
// authors as user objects: page N (page 1 the newest), or the messages
// around a cursor (?before= / ?after= a message id), or a time window
// (?since= / ?until= epoch ms, with ?after= / ?before= to walk it).
func handleHistory(log *slog.Logger, chats messageStore, users userDirectory, r renderer, l limits) gin.HandlerFunc {
	return func(c *gin.Context) {
		cl := currentCaller(c)
		peer, err := peerParam(c)
		if err != nil {
			writeError(c, log, err)
			return
		}
		conv, err := chat.NewConversation(cl.Domain, cl.User, peer)
		if err != nil {
			writeError(c, log, err)
			return
		}
		p, err := pageParam(c, l)
		if err != nil {
			writeError(c, log, err)
			return
		}
		cur, err := chat.ParseMessageCursor(cursorParams(c), p.Size)
		if err != nil {
			writeError(c, log, err)
			return
		}
		var page chat.HistoryPage
		if cur.IsZero() {
			page, err = chats.History(c.Request.Context(), conv, p)
		} else {
			page, err = chats.HistoryByCursor(c.Request.Context(), conv, cur)
		}
		if err != nil {
			writeError(c, log, err)
			return
		}
		found := users.Lookup(c.Request.Context(), []string{string(conv.Lo), string(conv.Hi)})
		msgs := make([]messageJSON, len(page.Messages))
		for i, m := range page.Messages {
			msgs[i] = r.message(m)
			msgs[i].Author = r.user(m.Author, found)
		}
		next, prev := nextPrev(len(msgs), page.Older, page.Newer, len(msgs)-1, 0, func(i int) string { return msgs[i].ID })
		var state any = cursorState(conv.Key(), cur, page.Total, next, prev)
		if cur.IsZero() {
			ps := pageState(conv.Key(), p, page.Total)
			ps.Next, ps.Prev = next, prev
			state = ps
		}
		c.JSON(http.StatusOK, struct {
			State    any           `json:"state"`
			Entry    userJSON      `json:"entry"` // the seed's other user
			Messages []messageJSON `json:"messages"`
		}{state, r.user(peer, found), msgs})
	}
}

// handleSend serves POST /api/user/:id: 201 with the new message, or 200
// with the original when client_id names a send already made.
func handleSend(log *slog.Logger, chats messageStore, r renderer, l limits, rateLimited func()) gin.HandlerFunc {
	type request struct {
		Type     *string `json:"type"`
		Text     *string `json:"text"`
		Image    *string `json:"image"`
		ClientID *string `json:"client_id"`
	}
	return func(c *gin.Context) {
		cl := currentCaller(c)
		var req request
		peer, ok := peerAndBody(c, log, l, &req)
		if !ok {
			return
		}
		content := chat.Content{Type: deref(req.Type), Text: deref(req.Text), Image: deref(req.Image)}
		if req.Type == nil { // the seed always sends type; infer it for terse clients
			content.Type = chat.TypeText
			if req.Image != nil && req.Text == nil {
				content.Type = chat.TypeImage
			}
		}
		if req.ClientID != nil && *req.ClientID == "" {
			writeError(c, log, chat.E("server.send", chat.Invalid, `"client_id" must not be empty`, nil))
			return
		}
		m, conv, err := chats.Send(c.Request.Context(), chat.SendRequest{Domain: cl.Domain, From: cl.User, To: peer,
			Content: content, ClientID: deref(req.ClientID)})
		if err != nil {
			if chat.KindOf(err) == chat.RateLimited {
				rateLimited()
			}
			writeError(c, log, err)
			return
		}
		status := http.StatusCreated
		if m.Replayed {
			status = http.StatusOK
		}
		c.JSON(status, entryResponse{writeState(conv, cl.User), r.message(m)})
	}
}

// handleEdit serves POST /api/user/:id/:messageId: {text} (author) and/or
// {status:"seen"} (recipient).
func handleEdit(log *slog.Logger, chats messageStore, r renderer, l limits) gin.HandlerFunc {
	type request struct {
		Text   *string `json:"text"`
		Status *string `json:"status"`
	}
	return func(c *gin.Context) {
		cl := currentCaller(c)
		var req request
		peer, ok := peerAndBody(c, log, l, &req)
		if !ok {
			return
		}
		if req.Status != nil && *req.Status != "seen" {
			writeError(c, log, chat.E("server.edit", chat.Invalid, `"status" can only be "seen"`, nil))
			return
		}
		m, conv, err := chats.Edit(c.Request.Context(), chat.EditRequest{Domain: cl.Domain, Caller: cl.User, Peer: peer,
			MessageID: c.Param("messageId"), Text: req.Text, Seen: req.Status != nil})
		if err != nil {
			writeError(c, log, err)
			return
		}
		c.JSON(http.StatusOK, entryResponse{writeState(conv, cl.User), r.message(m)})
	}
}

// handleDelete serves DELETE /api/user/:id/:messageId.
func handleDelete(log *slog.Logger, chats messageStore) gin.HandlerFunc {
	return func(c *gin.Context) {
		cl := currentCaller(c)
		peer, err := peerParam(c)
		if err != nil {
			writeError(c, log, err)
			return
		}
		_, conv, err := chats.Delete(c.Request.Context(), chat.DeleteRequest{Domain: cl.Domain, Caller: cl.User, Peer: peer, MessageID: c.Param("messageId")})
		if err != nil {
			writeError(c, log, err)
			return
		}
		c.JSON(http.StatusOK, deleted(conv, cl.User))
	}
}

// deletedJSON answers a delete.
type deletedJSON struct {
	State   writeStateJSON `json:"state"`
	Message string         `json:"message"`
	Success bool           `json:"success"`
}

func deleted(conv chat.Conversation, u chat.UserID) deletedJSON {
	return deletedJSON{writeState(conv, u), "Message deleted", true}
}

// handleHealth serves /healthz: the process is up.
func handleHealth() gin.HandlerFunc {
	return func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }
}

// pinger is what readiness checks.
type pinger interface {
	Ping(ctx context.Context) error
}

// handleReady serves /readyz: 200 when Redis answers within a second and
// accepts writes; 503 with Retry-After otherwise.
func handleReady(log *slog.Logger, db pinger) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := db.Ping(c.Request.Context()); err != nil {
			var known *chat.Error // a reason of its own (a cluster not ok)
			if !errors.As(err, &known) {
				err = chat.StoreError("server.ready", err)
			}
			writeError(c, log, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
