package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one lean websocket client (small buffers, one reader goroutine)
// speaking Parley's Socket.IO v4 or Centrifugo's JSON protocol; it answers
// pings and hands every frame that may hold a message to onMsg.
type conn struct {
	ws    *websocket.Conn
	wmu   sync.Mutex
	ended atomic.Bool
	why   error
}

// sourceIPs spreads connections over 127.0.0.2 ... 127.0.0.254, 8 000 on
// each, so alternating runs never run out of source ports (TIME_WAIT).
type sourceIPs struct{ n atomic.Int64 }

func (s *sourceIPs) next() net.IP {
	i := s.n.Add(1) - 1
	return net.IPv4(127, 0, 0, byte(2+(i/8000)%253))
}

func (c *conn) write(m string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, []byte(m))
}

func (c *conn) endErr() error {
	if !c.ended.Load() {
		return nil
	}
	return c.why
}

func (c *conn) close() { _ = c.ws.Close() }

// dial connects user's client to s and waits until it is subscribed.
func (s *system) dial(ctx context.Context, token string, src net.IP, onMsg func([]byte)) (*conn, error) {
	u := strings.Replace(s.url, "http", "ws", 1)
	if s.name == parleyName {
		u += "/socket.io/?EIO=4&transport=websocket"
	} else {
		u += "/connection/websocket"
	}
	nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
	d := websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 10 * time.Second,
		ReadBufferSize: 512, WriteBufferSize: 256}
	ws, _, err := d.DialContext(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	c := &conn{ws: ws}
	_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	if s.name == parleyName {
		err = c.parleyHandshake(token)
	} else {
		err = c.centrifugoHandshake(token)
	}
	if err != nil {
		ws.Close()
		return nil, err
	}
	_ = ws.SetReadDeadline(time.Time{})
	go c.loop(s.name == parleyName, onMsg)
	return c, nil
}

// parleyHandshake: Engine.IO open, Socket.IO CONNECT with the token, ack.
func (c *conn) parleyHandshake(token string) error {
	if _, _, err := c.ws.ReadMessage(); err != nil {
		return fmt.Errorf("open packet: %w", err)
	}
	if err := c.write(`40{"token":"` + token + `"}`); err != nil {
		return err
	}
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("connect ack: %w", err)
		}
		m := string(msg)
		switch {
		case m == "2":
			_ = c.write("3")
		case strings.HasPrefix(m, "40"):
			return nil
		case strings.HasPrefix(m, "44"):
			return fmt.Errorf("%w: %s", errConnect, m[2:])
		}
	}
}

// centrifugoHandshake: connect command with the token; the reply lists the
// personal channel the server subscribed the connection to.
func (c *conn) centrifugoHandshake(token string) error {
	if err := c.write(`{"id":1,"connect":{"token":"` + token + `","name":"peer"}}`); err != nil {
		return err
	}
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("connect reply: %w", err)
		}
		for _, line := range bytes.Split(msg, []byte("\n")) {
			switch {
			case bytes.Equal(line, []byte("{}")):
				_ = c.write("{}")
			case bytes.HasPrefix(line, []byte(`{"id":1,"error"`)):
				return fmt.Errorf("%w: %s", errConnect, line)
			case bytes.HasPrefix(line, []byte(`{"id":1,`)):
				if !bytes.Contains(line, []byte(`personal:#`)) {
					return fmt.Errorf("connect reply without the personal channel: %.200s", line)
				}
				return nil
			}
		}
	}
}

func (c *conn) loop(parley bool, onMsg func([]byte)) {
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			c.why = err
			c.ended.Store(true)
			return
		}
		switch {
		case parley && len(msg) == 1 && msg[0] == '2':
			err = c.write("3")
		case parley:
			if len(msg) > 2 && msg[0] == '4' && msg[1] == '2' {
				onMsg(msg[2:])
			}
		default: // Centrifugo: newline-delimited replies/pushes; {} is a ping
			for _, line := range bytes.Split(msg, []byte("\n")) {
				if len(line) == 2 && line[0] == '{' && line[1] == '}' {
					err = c.write("{}")
				} else if len(line) > 0 {
					onMsg(line)
				}
			}
		}
		if err != nil {
			c.why = fmt.Errorf("pong: %w", err)
			c.ended.Store(true)
			return
		}
	}
}

// dialAll connects one client per user 1..len(tokens)-1, conc at a time.
func (s *system) dialAll(ctx context.Context, tokens []string, ips *sourceIPs, conc int, onMsg func(user int) func([]byte)) ([]*conn, error) {
	conns := make([]*conn, len(tokens))
	var next atomic.Int64
	next.Store(1)
	var first atomic.Value
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tokens) || first.Load() != nil || ctx.Err() != nil {
					return
				}
				var c *conn
				var err error
				for attempt := range 3 {
					if c, err = s.dial(ctx, tokens[i], ips.next(), onMsg(i)); err == nil {
						break
					}
					time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
				}
				if err != nil {
					first.CompareAndSwap(nil, fmt.Errorf("%s client %d: %w", s.name, i, err))
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		closeAll(conns)
		return nil, err
	}
	return conns, ctx.Err()
}

func closeAll(conns []*conn) {
	for _, c := range conns {
		if c != nil {
			c.close()
		}
	}
}
