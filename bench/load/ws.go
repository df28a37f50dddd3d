package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// sock is one lean Socket.IO v4 websocket client: a gorilla connection with
// small buffers and one reader goroutine, so tens of thousands fit in the
// tool process. It answers pings and hands "42" event packets to onEvent.
type sock struct {
	conn  *websocket.Conn
	wmu   sync.Mutex
	ended atomic.Bool // the read loop stopped: the connection is gone
	why   error       // why it stopped; written before ended is set
}

// sourceIPs spreads client connections over 127.0.0.2 … 127.0.0.254, at
// most perSourceIP on each. One allocator serves a whole invocation: a
// closed client connection holds its source port in TIME_WAIT for a minute,
// so P3 after P2 and P2x must not reuse their addresses (P3's 19 000
// connections once failed at 8 344 on 127.0.0.2 that way). 8 000 stays well
// inside the 28 232 ports of the default ephemeral range.
type sourceIPs struct{ n atomic.Int64 }

const perSourceIP = 8000

func (s *sourceIPs) next() net.IP {
	i := s.n.Add(1) - 1
	return net.IPv4(127, 0, 0, byte(2+(i/perSourceIP)%253))
}

// dialSock connects, answers the open packet with a CONNECT carrying token
// and waits for the CONNECT ack.
func dialSock(ctx context.Context, base, token string, src net.IP, onEvent func(msg []byte)) (*sock, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path = "/socket.io/"
	u.RawQuery = "EIO=4&transport=websocket"
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
	d := websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 10 * time.Second,
		ReadBufferSize: 512, WriteBufferSize: 256}
	conn, _, err := d.DialContext(ctx, u.String(), nil)
	if err != nil {
		return nil, err
	}
	s := &sock{conn: conn}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	if _, _, err := conn.ReadMessage(); err != nil { // Engine.IO open packet
		conn.Close()
		return nil, fmt.Errorf("open packet: %w", err)
	}
	if err := s.write(`40{"token":"` + token + `"}`); err != nil {
		conn.Close()
		return nil, err
	}
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("connect ack: %w", err)
		}
		m := string(msg)
		switch {
		case m == "2":
			_ = s.write("3")
		case strings.HasPrefix(m, "40"):
			_ = conn.SetReadDeadline(time.Time{})
			go s.loop(onEvent)
			return s, nil
		case strings.HasPrefix(m, "44"):
			conn.Close()
			return nil, errors.New("connect_error: " + m[2:])
		}
	}
}

func (s *sock) write(m string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.conn.WriteMessage(websocket.TextMessage, []byte(m))
}

func (s *sock) loop(onEvent func([]byte)) {
	for {
		_, msg, err := s.conn.ReadMessage()
		if err != nil {
			s.end(err)
			return
		}
		switch {
		case len(msg) == 1 && msg[0] == '2':
			if err := s.write("3"); err != nil {
				s.end(fmt.Errorf("pong: %w", err))
				return
			}
		case len(msg) > 2 && msg[0] == '4' && msg[1] == '2':
			if onEvent != nil {
				onEvent(msg[2:])
			}
		}
	}
}

func (s *sock) end(err error) {
	s.why = err
	s.ended.Store(true)
}

// endErr is why the connection ended, or nil while it is open.
func (s *sock) endErr() error {
	if !s.ended.Load() {
		return nil
	}
	return s.why
}

func (s *sock) close() { _ = s.conn.Close() }

// dialMany connects one socket per token (tokens[1:]) with conc dials in
// flight; sockets[i] belongs to user i.
func dialMany(ctx context.Context, base string, tokens []string, conc int, ips *sourceIPs,
	onEvent func(user int) func([]byte)) ([]*sock, error) {
	socks := make([]*sock, len(tokens))
	var wg sync.WaitGroup
	var firstErr atomic.Value
	next := atomic.Int64{}
	next.Store(1)
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tokens) || firstErr.Load() != nil || ctx.Err() != nil {
					return
				}
				var s *sock
				var err error
				for attempt := range 3 { // a refused dial under a burst of handshakes is retried
					s, err = dialSock(ctx, base, tokens[i], ips.next(), onEvent(i))
					if err == nil {
						break
					}
					time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("client %d: %w", i, err))
					return
				}
				socks[i] = s
				if i%5000 == 0 {
					logf("  %d sockets connected (%.0f/s)", i, float64(i)/time.Since(start).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		closeAll(socks)
		return nil, err
	}
	if ctx.Err() != nil {
		closeAll(socks)
		return nil, ctx.Err()
	}
	return socks, nil
}

func closeAll(socks []*sock) {
	for _, s := range socks {
		if s != nil {
			s.close()
		}
	}
}
