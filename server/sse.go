package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"parley/chat"
)

// sseOptions configure the EventSource transport.
type sseOptions struct {
	heartbeat time.Duration // comment line interval that keeps proxies from timing out
	retry     time.Duration // reconnect advice sent to the client
	// closing is closed when the server shuts down: streams end so that
	// http.Server.Shutdown does not wait for them (clients reconnect).
	closing <-chan struct{}
	// streams counts open streams (+1, -1); emitted counts delivered events.
	streams func(delta float64)
	emitted func(event string)
	// presence counts each open stream as a device of its user.
	presence presenceTracker
	// conns counts the stream toward its user's connections on this node,
	// with the user's sockets.
	conns *connCounter
	// A write that blocks writeTimeout ends the stream (a slow reader);
	// closedSlow counts those.
	writeTimeout time.Duration
	closedSlow   func()
}

// eventTypes are the types ?types= may name.
func eventTypes() []string {
	return []string{chat.EventNew, chat.EventEdit, chat.EventDelete, chat.EventRead, chat.EventTyping, chat.EventPresence}
}

// handleEvents serves GET /api/events: the caller's events as
// text/event-stream. The token may come as ?token= (EventSource cannot set
// headers); Last-Event-ID (or ?lastEventId=) replays what the client missed
// first, exactly like a Socket.IO reconnect; ?types= keeps only some types.
func handleEvents(log *slog.Logger, h *hub, r renderer, o sseOptions) gin.HandlerFunc {
	return func(c *gin.Context) {
		cl := currentCaller(c)
		filter, err := parseTypes(c.Query("types"))
		if err != nil {
			writeError(c, log, err)
			return
		}
		after := parseEventID(c.GetHeader("Last-Event-ID"))
		if after < 0 {
			after = parseEventID(c.Query("lastEventId"))
		}
		if after < 0 {
			n, err := h.LastEventID(c.Request.Context(), cl.Domain, cl.User)
			if err != nil {
				writeError(c, log, err)
				return
			}
			after = n
		}
		release, ok := o.conns.acquire(userConnKey(cl))
		if !ok {
			writeError(c, log, errTooManyConnections)
			return
		}
		defer release()
		_, ok = c.Writer.(http.Flusher)
		if !ok {
			writeError(c, log, fmt.Errorf("streaming unsupported"))
			return
		}
		// A stream outlives any server read/write timeout: lift the
		// connection's deadlines for it (TestSSEOutlivesReadTimeout).
		rc := http.NewResponseController(c.Writer)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
		hd := c.Writer.Header()
		hd.Set("Content-Type", "text/event-stream")
		hd.Set("Cache-Control", "no-cache")
		hd.Set("Connection", "keep-alive")
		hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
		c.Status(http.StatusOK)

		// Frames from the hub's delivery loop go through one channel, so the
		// handler goroutine is the stream's only writer.
		frames := make(chan string, 64)
		// The delivery loop may still run a moment after the handler
		// returned, when Gin reuses c: it must not touch c.
		reqCtx := c.Request.Context()
		send := func(f string) {
			select {
			case frames <- f:
			case <-reqCtx.Done():
			}
		}
		// The stream is a device for presence until it ends (after the
		// delivery below has stopped).
		defer deviceOnline(log, o.presence, cl)()
		stop := h.Subscribe(cl.Domain, cl.User, after, func(ev chat.Event) {
			if filter != nil && !filter[ev.Type] {
				return
			}
			b, _ := json.Marshal(r.event(cl.Domain, cl.User, ev))
			if ev.Ephemeral() { // no id line: it would move the client's Last-Event-ID
				send(fmt.Sprintf("event: %s\ndata: %s\n\n", ev.Type, b))
			} else {
				send(fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, b))
			}
			o.emitted(ev.Type)
		}, func(reason string) {
			b, _ := json.Marshal(map[string]string{"reason": reason})
			send("event: resync\ndata: " + string(b) + "\n\n")
		})
		defer stop()
		o.streams(1)
		defer o.streams(-1)

		// The ready frame carries the position as its id, so EventSource's own
		// reconnect sends Last-Event-ID even before the first real event.
		ready, _ := json.Marshal(map[string]any{"lastEventId": after})
		sw := newSSEWriter(c.Writer, o.writeTimeout)
		// write ends the stream on an error; one that blocked past the
		// deadline is a slow reader.
		write := func(f string) bool {
			err := sw.write(f)
			if err != nil && timedOut(err) && o.closedSlow != nil {
				o.closedSlow()
				log.Warn("closing a slow event stream: a write blocked", "user", string(cl.User), "timeout", o.writeTimeout)
			}
			return err == nil
		}
		if !write(fmt.Sprintf("retry: %d\nid: %d\nevent: ready\ndata: %s\n\n", o.retry.Milliseconds(), after, ready)) {
			return
		}
		beat := time.NewTicker(o.heartbeat)
		defer beat.Stop()
		var expired <-chan time.Time
		if !cl.Expires.IsZero() {
			t := time.NewTimer(time.Until(cl.Expires))
			defer t.Stop()
			expired = t.C
		}
		for {
			select {
			case <-c.Request.Context().Done():
				return
			case <-o.closing:
				// Shutdown: end the stream with reconnect advice, so
				// EventSource reconnects (elsewhere) with its Last-Event-ID.
				write(fmt.Sprintf("retry: %d\n: server shutting down, reconnect\n\n", o.retry.Milliseconds()))
				return
			case f := <-frames:
				if !write(f) {
					return
				}
			case <-beat.C:
				if !write(": ping\n\n") {
					return
				}
			case <-expired:
				write("event: session:expired\ndata: {\"reason\":\"token expired\"}\n\n")
				return
			}
		}
	}
}

// parseTypes reads ?types=a,b; nil means every type.
func parseTypes(s string) (map[string]bool, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string]bool{}
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		known := false
		for _, k := range eventTypes() {
			known = known || k == t
		}
		if !known {
			return nil, chat.E("server.events", chat.Invalid, `"types" takes a comma-separated list of `+strings.Join(eventTypes(), ", "), nil)
		}
		out[t] = true
	}
	return out, nil
}
