package server

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// sseWriter writes an event stream's frames, each under a write deadline:
// a reader that stops reading fills the TCP buffers, the next write blocks,
// and after timeout (PARLEY_CONN_WRITE_TIMEOUT) it fails and the stream
// ends, where before it blocked until the client went away, holding the
// connection and its delivery (TestSlowSSEConsumer). The client reconnects
// with Last-Event-ID and the log replays what it missed.
type sseWriter struct {
	w io.Writer // gin's writer, which counts what is written
	// rc controls the net/http writer beneath gin's: its Flush reports the
	// error that gin's swallows.
	rc      *http.ResponseController
	timeout time.Duration
}

func newSSEWriter(w http.ResponseWriter, timeout time.Duration) sseWriter {
	under := w
	if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok {
		under = u.Unwrap()
	}
	if timeout <= 0 {
		timeout = defaultQueueTimeout
	}
	return sseWriter{w: w, rc: http.NewResponseController(under), timeout: timeout}
}

// write writes frame f and flushes it. Between writes the connection has
// no deadline (a stream outlives the server's timeouts).
func (s sseWriter) write(f string) error {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	if _, err := io.WriteString(s.w, f); err != nil {
		return err
	}
	if err := s.rc.Flush(); err != nil {
		return err
	}
	_ = s.rc.SetWriteDeadline(time.Time{})
	return nil
}

// timedOut tells a write that blocked past its deadline (a slow reader)
// from one that failed because the client went away.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
