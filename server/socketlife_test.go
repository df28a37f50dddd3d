package server

import (
	"encoding/json"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestConnectThenCloseLeaksNothing churns clients that send their
// Socket.IO CONNECT and close the websocket without waiting for the ack: whatever moment of the connect the close lands in, the node
// ends up holding nothing of theirs — no subscriber in the hub, no Redis
// channel subscription, no socket in the namespace, no goroutine.
func TestConnectThenCloseLeaksNothing(t *testing.T) {
	f := newRTFixture(t, realtimeOptions{})
	const clients, workers = 2000, 16
	settle := func() int {
		var n int
		for range 50 { // let goroutines of the setup finish
			runtime.Gosched()
			time.Sleep(10 * time.Millisecond)
			n = goroutinesOutsideStore()
		}
		return n
	}
	baseline := settle()

	jobs := make(chan int)
	var wg sync.WaitGroup
	var dialFailed sync.Map
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				c, _, err := websocket.DefaultDialer.Dial(f.wsURL(), nil)
				if err != nil {
					dialFailed.Store(i, err)
					continue
				}
				auth, _ := json.Marshal(map[string]any{"token": f.token(t, "u"+strconv.Itoa(i))})
				_ = c.WriteMessage(websocket.TextMessage, append([]byte("40"), auth...))
				// Spread the closes over the connect's duration (0-1 ms
				// after the CONNECT), so they land in every step of it.
				time.Sleep(time.Duration(i%50) * 20 * time.Microsecond)
				_ = c.Close() // no close frame, no wait for the ack
			}
		}()
	}
	for i := range clients {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	dialFailed.Range(func(k, v any) bool { t.Errorf("client %v: dial: %v", k, v); return true })

	// Closing is asynchronous on the server: wait (bounded) for the state
	// to drain, then report what is left.
	var subs, sockets, counted int
	var chans []string
	deadline := time.Now().Add(15 * time.Second)
	for {
		subs, sockets, chans, counted = f.hub.Subscribers(), f.rt.connectedSockets(), f.subscribedChannels(t), f.rt.conns.total()
		if (subs == 0 && sockets == 0 && len(chans) == 0 && counted == 0) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if subs != 0 || sockets != 0 || len(chans) != 0 || counted != 0 {
		t.Errorf("after %d connect-then-close clients: %d hub subscribers, %d namespace sockets, %d Redis channels subscribed, %d connections counted, want 0 (channels %.300v)",
			clients, subs, sockets, len(chans), counted, chans)
	}
	// Goroutines come back to the baseline (a few of the runtime's and the
	// HTTP server's may come and go).
	const slack = 10
	var now int
	for deadline = time.Now().Add(10 * time.Second); ; {
		now = settle()
		if now <= baseline+slack || time.Now().After(deadline) {
			break
		}
	}
	if now > baseline+slack {
		t.Errorf("goroutines: %d after the churn, %d before", now, baseline)
	}
	t.Logf("%d clients: %d hub subscribers, %d sockets, %d channels left; goroutines %d -> %d", clients, subs, sockets, len(chans), baseline, now)
}

// total is the number of connections counted, all keys together.
func (c *connCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.n {
		n += v
	}
	return n
}

// goroutinesOutsideStore counts this process's goroutines except those of
// an in-process embedded store (miniredis serves each connection of the
// Redis pool on a goroutine of this process; a real Redis does not).
func goroutinesOutsideStore() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.HasPrefix(g, "goroutine ") && !strings.Contains(g, "alicebob/miniredis") {
			count++
		}
	}
	return count
}
