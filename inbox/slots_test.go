package inbox_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
	"parley/inbox"
	"parley/internal/testutil"
)

// keySlot is the Redis Cluster slot of key: CRC16-XMODEM of its hash tag
// (or of the whole key without one) modulo 16384.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for _, c := range []byte(key) {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc % 16384)
}

// scriptSlots records the keys of every script call that span slots.
type scriptSlots struct {
	mu      sync.Mutex
	calls   int
	crossed []string
}

func (c *scriptSlots) check(cmd redis.Cmder) {
	args := cmd.Args()
	if len(args) < 3 || !strings.HasPrefix(strings.ToLower(fmt.Sprint(args[0])), "eval") {
		return
	}
	var n int
	fmt.Sscan(fmt.Sprint(args[2]), &n)
	slots := map[int]bool{}
	var keys []string
	for _, k := range args[3 : 3+n] {
		keys = append(keys, fmt.Sprint(k))
		slots[keySlot(fmt.Sprint(k))] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if len(slots) > 1 {
		c.crossed = append(c.crossed, strings.Join(keys, " "))
	}
}

func (c *scriptSlots) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *scriptSlots) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.check(cmd); return next(ctx, cmd) }
}
func (c *scriptSlots) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.check(cmd)
		}
		return next(ctx, cmds)
	}
}

// TestInboxScriptsKeepToOneSlot: listing an inbox by page and by cursor
// runs scripts whose KEYS share one Redis Cluster slot (latest.lua reads
// only the conversation's keys; the user's horizons and unread counts are
// read from the user's hashes), and the entries still carry them.
func TestInboxScriptsKeepToOneSlot(t *testing.T) {
	t.Parallel()
	rdb := testutil.Redis(t) // a client of its own: the hook sees this test's calls only
	sc := &scriptSlots{}
	rdb.AddHook(sc)
	keys := chat.Keys{Prefix: testutil.Prefix(t)}
	dom := chat.Domain(testutil.Domain(t))
	chats := chat.NewStore(rdb, keys, chat.Limits{MaxText: 100}, time.Now)
	ib := inbox.NewStore(rdb, keys)
	ctx := context.Background()
	send := func(from, to chat.UserID) chat.Message {
		m, _, err := chats.Send(ctx, chat.SendRequest{Domain: dom, From: from, To: to, Content: chat.Content{Type: "text", Text: "hi"}})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	send("2", "1")
	m := send("2", "1")
	send("3", "1")
	if _, _, err := chats.MarkRead(ctx, dom, "1", "2", m.ID); err != nil {
		t.Fatal(err)
	}
	send("2", "1")
	p, err := ib.List(ctx, dom, "1", chat.Page{Number: 1, Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ib.ListByCursor(ctx, dom, "1", chat.Cursor{Before: "2", Limit: 5}); err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 2 || p.Unread != 2 {
		t.Fatalf("inbox: %+v, want 2 entries, 2 unread", p)
	}
	for _, e := range p.Entries {
		want := map[chat.UserID]int64{"2": 1, "3": 1}[e.Peer]
		if e.Unread != want {
			t.Errorf("entry %s: %d unread, want %d", e.Peer, e.Unread, want)
		}
		if e.Peer == "2" && e.Read.MessageID != m.ID {
			t.Errorf("entry 2: read mark %+v, want at %s", e.Read, m.ID)
		}
	}
	if sc.calls == 0 {
		t.Fatal("no script call seen")
	}
	for _, k := range sc.crossed {
		t.Errorf("a script's keys span slots: %s", k)
	}
}
