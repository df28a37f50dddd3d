package server

import (
	"encoding/json"
	"strconv"
	"time"

	"parley/chat"
	"parley/userapi"
)

// renderer turns domain values into the seed's JSON shapes.
type renderer struct {
	numericIDs bool // write ids made only of digits as JSON numbers, as the seed's clients expect
}

// id writes u as a number when it is numeric and numeric ids are on.
func (r renderer) id(u chat.UserID) any {
	if r.numericIDs && u.IsNumeric() {
		n, _ := strconv.ParseInt(string(u), 10, 64)
		return n
	}
	return string(u)
}

type timestampJSON struct {
	Epoch int64  `json:"epoch"`
	ISO   string `json:"iso"`
}

func timestamp(ms int64) timestampJSON {
	return timestampJSON{Epoch: ms, ISO: time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")}
}

func optionalTimestamp(ms int64) *timestampJSON {
	if ms == 0 {
		return nil
	}
	t := timestamp(ms)
	return &t
}

type messageJSON struct {
	ID        string         `json:"id"`
	Author    any            `json:"author"` // an id, or a user object in histories
	Timestamp timestampJSON  `json:"timestamp"`
	Type      string         `json:"type"`
	Text      string         `json:"text,omitempty"`
	Image     string         `json:"image,omitempty"`
	Edited    *timestampJSON `json:"edited,omitempty"`
	Status    string         `json:"status,omitempty"`
	Seen      *timestampJSON `json:"seen,omitempty"`
}

// message renders m with its author as an id.
func (r renderer) message(m chat.Message) messageJSON {
	out := messageJSON{ID: m.ID, Author: r.id(m.Author), Timestamp: timestamp(m.Epoch), Type: m.Type,
		Text: m.Text, Image: m.Image, Edited: optionalTimestamp(m.Edited), Seen: optionalTimestamp(m.Seen)}
	if m.Seen != 0 {
		out.Status = "seen"
	}
	return out
}

type userJSON struct {
	ID       any             `json:"id"`
	Username json.RawMessage `json:"username"`
	Role     json.RawMessage `json:"role"`
}

var jsonNull = json.RawMessage("null")

// user renders the platform's user object for id, or the fallback.
func (r renderer) user(id chat.UserID, users map[string]userapi.User) userJSON {
	out := userJSON{ID: r.id(id), Username: jsonNull, Role: jsonNull}
	if u, ok := users[string(id)]; ok {
		if len(u.Username) > 0 {
			out.Username = u.Username
		}
		if len(u.Role) > 0 {
			out.Role = u.Role
		}
	}
	return out
}

type pageStateJSON struct {
	Key        string  `json:"key"`
	Page       int     `json:"page"`
	PerPage    int     `json:"per_page"`
	Total      int64   `json:"total"`
	TotalPages int64   `json:"total_pages"`
	Next       *string `json:"next"` // cursor for newer items ("after"), null when none
	Prev       *string `json:"prev"` // cursor for older items ("before"), null when none
}

func pageState(key string, p chat.Page, total int64) pageStateJSON {
	return pageStateJSON{Key: key, Page: p.Number, PerPage: p.Size, Total: total, TotalPages: p.TotalPages(total)}
}

// cursorStateJSON is the state of a cursor read: the page-number fields
// make no sense there, the cursor it answered does.
type cursorStateJSON struct {
	Key     string     `json:"key"`
	PerPage int        `json:"per_page"`
	Total   int64      `json:"total"`
	Cursor  cursorJSON `json:"cursor"`
	Next    *string    `json:"next"`
	Prev    *string    `json:"prev"`
}

// cursorJSON echoes the cursor of a request.
type cursorJSON struct {
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	Since  *int64 `json:"since,omitempty"`
	Until  *int64 `json:"until,omitempty"`
}

func cursorState(key string, c chat.Cursor, total int64, next, prev *string) cursorStateJSON {
	return cursorStateJSON{Key: key, PerPage: c.Limit, Total: total, Next: next, Prev: prev,
		Cursor: cursorJSON{Before: c.Before, After: c.After, Since: c.Since, Until: c.Until}}
}

// nextPrev returns the cursors around a page of n items: next is the last
// (newest) item's cursor when newer items exist, prev the first (oldest)
// one's when older items exist; cursor(i) is the cursor of item i.
func nextPrev(n int, older, newer bool, newest, oldest int, cursor func(i int) string) (next, prev *string) {
	if n == 0 {
		return nil, nil
	}
	if newer {
		s := cursor(newest)
		next = &s
	}
	if older {
		s := cursor(oldest)
		prev = &s
	}
	return next, prev
}

// readMarkJSON is a read horizon: the last message read and when.
type readMarkJSON struct {
	ID        string        `json:"id"`
	Timestamp timestampJSON `json:"timestamp"`
}

// readMark renders m, or nil when nothing was read.
func readMark(m chat.ReadMark) *readMarkJSON {
	if m.Seq == 0 {
		return nil
	}
	return &readMarkJSON{ID: m.MessageID, Timestamp: timestamp(m.At)}
}

type writeStateJSON struct {
	Key      string `json:"key"`
	InboxKey string `json:"inbox_key"`
}

// writeState is the state of a send, edit or delete, seen by caller.
func writeState(conv chat.Conversation, caller chat.UserID) writeStateJSON {
	return writeStateJSON{Key: conv.Key(), InboxKey: chat.InboxMember(conv.Peer(caller))}
}

// entryResponse answers a send or an edit.
type entryResponse struct {
	State writeStateJSON `json:"state"`
	Entry messageJSON    `json:"entry"`
}

// eventJSON is an event as both realtime transports send it: the REST write
// state and the other party as the receiver sees them, the entry (or, for a
// delete, the id), and the event's id in the receiver's log.
type eventJSON struct {
	State   writeStateJSON `json:"state"`
	With    any            `json:"with"`
	Entry   *messageJSON   `json:"entry,omitempty"`
	ID      string         `json:"id,omitempty"`
	EventID int64          `json:"eventId"`
}

// readEventJSON tells both parties that reader's read horizon in the DM
// moved up to message UpTo.
type readEventJSON struct {
	State   writeStateJSON `json:"state"`
	With    any            `json:"with"`
	UpTo    string         `json:"upTo"`
	By      any            `json:"by"`
	At      timestampJSON  `json:"at"`
	EventID int64          `json:"eventId"`
}

// typingEventJSON says With is typing to the receiver until Until.
type typingEventJSON struct {
	With  any           `json:"with"`
	Until timestampJSON `json:"until"`
}

// presenceEventJSON says user ID went online or offline at At.
type presenceEventJSON struct {
	ID     any           `json:"id"`
	Online bool          `json:"online"`
	At     timestampJSON `json:"at"`
}

// event renders ev of user u's log, in the shape of its type.
func (r renderer) event(d chat.Domain, u chat.UserID, ev chat.Event) any {
	switch ev.Type {
	case chat.EventTyping:
		return typingEventJSON{With: r.id(ev.Peer), Until: timestamp(ev.Until)}
	case chat.EventPresence:
		return presenceEventJSON{ID: r.id(ev.Peer), Online: ev.Online, At: timestamp(ev.TS)}
	}
	conv, _ := chat.NewConversation(d, u, ev.Peer)
	if ev.Type == chat.EventRead {
		return readEventJSON{State: writeState(conv, u), With: r.id(ev.Peer), UpTo: ev.UpTo, By: r.id(ev.Reader),
			At: timestamp(ev.TS), EventID: ev.ID}
	}
	out := eventJSON{State: writeState(conv, u), With: r.id(ev.Peer), EventID: ev.ID}
	if ev.Type == chat.EventDelete {
		out.ID = ev.Msg.ID
	} else {
		m := r.message(ev.Msg)
		out.Entry = &m
	}
	return out
}

// parseEventID reads a client's last event id: a JSON number or a decimal
// string; -1 when absent or invalid.
func parseEventID(v any) int64 {
	switch x := v.(type) {
	case float64:
		if x >= 0 && x == float64(int64(x)) {
			return int64(x)
		}
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil && n >= 0 {
			return n
		}
	}
	return -1
}
