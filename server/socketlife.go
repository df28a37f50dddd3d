package server

import (
	"sync"
	"time"

	"github.com/zishang520/socket.io/v2/socket"
)

// socketLife is the one cleanup path of a socket: what the socket holds on
// the node (its presence device and connection count, its hub
// subscription, its token-expiry timer) is registered with onClose and
// released once, by whichever close route comes first — the socket
// leaving the namespace ("disconnect") or its transport closing.
//
// The transport route is the one that cannot be missed: zishang520
// socket.io v2.5.0 marks a socket connected (Namespace._doConnect ->
// Socket._onconnect) before registering it with its client
// (Client.doConnect's callback), and the client's close handler
// (Client.onclose) only disconnects the sockets registered by then; a
// transport that closes in that gap never emits "disconnect", and the
// socket stays in the namespace for good. Nor does a "disconnect" that
// fires before onConnect has run reach a listener onConnect adds.
type socketLife struct {
	mu      sync.Mutex
	closed  bool
	release []func()
	// registered is closed once the library has registered the socket
	// with its client (its "connection" handler runs), or it closed
	// (connecthold.go waits on it).
	registered   chan struct{}
	registerOnce sync.Once
}

// watchSocket ties a new life to s's close routes. It is called from the
// handshake middleware, before the socket can connect.
func watchSocket(s *socket.Socket) *socketLife {
	l := &socketLife{registered: make(chan struct{})}
	_ = s.On("disconnect", func(...any) { l.close() })
	// The engine sets the ready state to "closed" before it emits
	// "close": a close the listener missed is seen by the check.
	_ = s.Conn().Once("close", func(...any) { l.close() })
	if s.Conn().ReadyState() == "closed" {
		l.close()
	}
	return l
}

// onClose registers f to run when the socket closes, or runs it now if it
// already has.
func (l *socketLife) onClose(f func()) {
	l.mu.Lock()
	if !l.closed {
		l.release = append(l.release, f)
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	f()
}

// close releases everything registered, last first; it runs once however
// many routes call it.
func (l *socketLife) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	fs := l.release
	l.release = nil
	l.mu.Unlock()
	l.markRegistered() // nothing waits for a socket that is gone
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// isClosed reports whether the socket has closed by any route.
func (l *socketLife) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// settle is called at the end of the socket's "connection" handler, once
// the library has registered it with its client: a socket whose transport
// closed before that is still connected in the library's eyes, and leaving
// the namespace now drops it from the namespace (and the connected-sockets
// gauge). A close that comes later reaches it through Client.onclose.
func (l *socketLife) settle(s *socket.Socket) {
	if l.isClosed() || s.Conn().ReadyState() == "closed" {
		l.close()
		s.Disconnect(false) // a no-op unless the library still counts it connected
	}
}

// markRegistered records that the library has registered the socket with
// its client: it is called first thing in the socket's "connection"
// handler, which the library runs after the registration. Idempotent.
func (l *socketLife) markRegistered() {
	l.registerOnce.Do(func() { close(l.registered) })
}

// awaitRegistered waits until the socket is registered with its client or
// closed, limit at most; it reports whether it was.
func (l *socketLife) awaitRegistered(limit time.Duration) bool {
	select {
	case <-l.registered:
		return true
	default:
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-l.registered:
		return true
	case <-t.C:
		return false
	}
}
