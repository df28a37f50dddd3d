package sioclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Event is one event received from the server.
type Event struct {
	Name string
	Args []json.RawMessage
}

// ConnectError is the server's refusal of the namespace connection.
type ConnectError struct {
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func (e *ConnectError) Error() string { return "connect_error: " + e.Message }

// Client is one connected socket. Events arrive on Events until the
// connection ends, when Events is closed and Err tells why.
type Client struct {
	conn   *websocket.Conn
	Events chan Event
	SID    string

	wmu     sync.Mutex
	ackMu   sync.Mutex
	nextAck int
	acks    map[int]chan []json.RawMessage // pending acks by packet id
	errOnce sync.Once
	err     error
	done    chan struct{}
}

// Dial connects to the Socket.IO server at base (http://host:port, with an
// optional query the handshake carries too) over a
// websocket and joins the main namespace with auth as its handshake
// payload, answering the open packet at once as websocket-only clients do.
// It returns a *ConnectError when the server refuses the connection, and
// fails when ctx ends first (5 s at most for the handshake).
func Dial(ctx context.Context, base string, auth any, header http.Header) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path = "/socket.io/"
	q := u.Query() // a query on base (e.g. ?token=) is kept
	q.Set("EIO", "4")
	q.Set("transport", "websocket")
	u.RawQuery = q.Encode()
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, u.String(), header)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetReadDeadline(deadline)
	c := &Client{conn: conn, Events: make(chan Event, 1024), done: make(chan struct{})}
	// Engine.IO open packet.
	if _, err := c.read(); err != nil {
		conn.Close()
		return nil, err
	}
	payload := "40"
	if auth != nil {
		b, err := json.Marshal(auth)
		if err != nil {
			conn.Close()
			return nil, err
		}
		payload += string(b)
	}
	if err := c.write(payload); err != nil {
		conn.Close()
		return nil, err
	}
	for {
		msg, err := c.read()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("waiting for the CONNECT ack: %w", err)
		}
		switch {
		case msg == "2":
			_ = c.write("3")
		case strings.HasPrefix(msg, "40"):
			var ok struct {
				SID string `json:"sid"`
			}
			_ = json.Unmarshal([]byte(msg[2:]), &ok)
			c.SID = ok.SID
			_ = conn.SetReadDeadline(time.Time{})
			go c.loop()
			return c, nil
		case strings.HasPrefix(msg, "44"):
			ce := &ConnectError{}
			_ = json.Unmarshal([]byte(msg[2:]), ce)
			conn.Close()
			return nil, ce
		}
	}
}

func (c *Client) read() (string, error) {
	_, b, err := c.conn.ReadMessage()
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func (c *Client) write(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.conn.WriteMessage(websocket.TextMessage, []byte(s))
}

func (c *Client) loop() {
	defer close(c.Events)
	for {
		msg, err := c.read()
		if err != nil {
			c.fail(err)
			return
		}
		switch {
		case msg == "2":
			if err := c.write("3"); err != nil {
				c.fail(err)
				return
			}
		case msg == "1" || strings.HasPrefix(msg, "41"):
			c.fail(ErrServerDisconnect)
			return
		case strings.HasPrefix(msg, "43"):
			c.acked(msg[2:])
		case strings.HasPrefix(msg, "42"):
			var arr []json.RawMessage
			if err := json.Unmarshal([]byte(msg[2:]), &arr); err != nil || len(arr) == 0 {
				continue
			}
			ev := Event{Args: arr[1:]}
			_ = json.Unmarshal(arr[0], &ev.Name)
			select {
			case c.Events <- ev:
			case <-c.done:
				return
			}
		}
	}
}

// acked hands an ack packet's ("<id>[args…]") args to its waiter.
func (c *Client) acked(body string) {
	i := strings.IndexByte(body, '[')
	if i <= 0 {
		return
	}
	id, err := strconv.Atoi(body[:i])
	if err != nil {
		return
	}
	var args []json.RawMessage
	if err := json.Unmarshal([]byte(body[i:]), &args); err != nil {
		return
	}
	c.ackMu.Lock()
	ch := c.acks[id]
	delete(c.acks, id)
	c.ackMu.Unlock()
	if ch != nil {
		ch <- args
	}
}

// EmitWithAck sends an event asking for an ack and returns the ack's args,
// or fails when ctx ends first or the connection ends.
func (c *Client) EmitWithAck(ctx context.Context, name string, args ...any) ([]json.RawMessage, error) {
	b, err := json.Marshal(append([]any{name}, args...))
	if err != nil {
		return nil, err
	}
	ch := make(chan []json.RawMessage, 1)
	c.ackMu.Lock()
	if c.acks == nil {
		c.acks = map[int]chan []json.RawMessage{}
	}
	id := c.nextAck
	c.nextAck++
	c.acks[id] = ch
	c.ackMu.Unlock()
	if err := c.write("42" + strconv.Itoa(id) + string(b)); err != nil {
		return nil, err
	}
	select {
	case args := <-ch:
		return args, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, errors.New("connection closed")
	}
}

// ErrServerDisconnect means the server closed the socket on purpose.
var ErrServerDisconnect = errors.New("server disconnected the socket")

func (c *Client) fail(err error) {
	c.errOnce.Do(func() { c.err = err })
}

// Err is why the connection ended, once Events is closed.
func (c *Client) Err() error {
	select {
	case <-c.done:
	default:
	}
	return c.err
}

// Emit sends an event with JSON-encodable args.
func (c *Client) Emit(name string, args ...any) error {
	b, err := json.Marshal(append([]any{name}, args...))
	if err != nil {
		return err
	}
	return c.write("42" + string(b))
}

// Close leaves the namespace and closes the connection.
func (c *Client) Close() error {
	c.errOnce.Do(func() { c.err = errors.New("closed by client") })
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	_ = c.write("41")
	return c.conn.Close()
}
