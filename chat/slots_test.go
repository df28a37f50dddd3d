package chat_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"parley/chat"
	"parley/internal/testutil"
)

// crc16 is CRC16-XMODEM (polynomial 0x1021, initial 0), the checksum Redis
// Cluster takes of a key's hash tag.
func crc16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// keySlot is the Redis Cluster slot of key: the CRC16 of its hash tag (the
// part between the first '{' and the next '}', when not empty) or of the
// whole key, modulo 16384.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16([]byte(key)) % 16384)
}

func TestKeySlot(t *testing.T) {
	t.Parallel()
	// Values from the Redis Cluster specification.
	for key, want := range map[string]int{"123456789": 12739, "foo": 12182, "{user1000}.following": 3443,
		"{user1000}.followers": 3443} {
		if got := keySlot(key); got != want {
			t.Errorf("slot of %q = %d, want %d", key, got, want)
		}
	}
	// An empty tag hashes the whole key; the tag ends at the first '}'.
	whole := int(crc16([]byte("foo{}{bar}")) % 16384)
	if keySlot("foo{}{bar}") != whole {
		t.Errorf("slot of foo{}{bar} is not that of the whole key")
	}
	if keySlot("foo{{bar}}zap") != int(crc16([]byte("{bar"))%16384) {
		t.Errorf("slot of foo{{bar}}zap is not that of {bar")
	}
	if crc16([]byte("123456789")) != 0x31C3 {
		t.Errorf("crc16 check value %#x, want 0x31c3", crc16([]byte("123456789")))
	}
}

// slotChecker is a go-redis hook that records every script call whose
// keys are in more than one Redis Cluster slot (a script Redis Cluster
// refuses with CROSSSLOT), and counts the script calls it saw.
type slotChecker struct {
	mu      sync.Mutex
	calls   int
	crossed []string
}

func (c *slotChecker) check(cmd redis.Cmder) {
	args := cmd.Args()
	if len(args) < 3 {
		return
	}
	name := strings.ToLower(fmt.Sprint(args[0]))
	if name != "evalsha" && name != "eval" && name != "evalsha_ro" && name != "eval_ro" {
		return
	}
	var n int
	fmt.Sscan(fmt.Sprint(args[2]), &n)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	slots := map[int]bool{}
	var keys []string
	for _, k := range args[3 : 3+n] {
		keys = append(keys, fmt.Sprint(k))
		slots[keySlot(fmt.Sprint(k))] = true
	}
	if len(slots) > 1 {
		c.crossed = append(c.crossed, strings.Join(keys, " "))
	}
}

func (c *slotChecker) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *slotChecker) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.check(cmd); return next(ctx, cmd) }
}
func (c *slotChecker) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.check(cmd)
		}
		return next(ctx, cmds)
	}
}

// TestScriptsKeepToOneSlot runs every write (each kind, refused by a
// block and by a budget, a moderator's delete, a retry with a client id,
// writes stopped between steps, the repair loop, reads) and checks that
// every script call's KEYS share one hash slot, so each runs on Redis
// Cluster.
func TestScriptsKeepToOneSlot(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	sc := &slotChecker{}
	rdb := testutil.Redis(t) // a client of its own: the hook sees this test's calls only
	rdb.AddHook(sc)
	f.rdb = rdb
	f.store = chat.NewStore(rdb, f.keys, chat.Limits{MaxText: 100}, f.clock.Now)
	d := seedDM(t, f, budgeted(f))
	for _, w := range writeKinds {
		if w.oneScript {
			continue
		}
		for i := range 3 {
			if err := w.do(ctx, d, i); err != nil && chat.KindOf(err) != chat.NotFound {
				t.Fatalf("%s %d: %v", w.name, i, err)
			}
		}
	}
	// Refusals: a block each way, a spent budget.
	if err := f.store.Block(ctx, f.dom, d.b, d.a); err != nil {
		t.Fatal(err)
	}
	for _, w := range writeKinds {
		if w.oneScript {
			continue
		}
		if err := w.do(ctx, d, 0); chat.KindOf(err) != chat.Forbidden && chat.KindOf(err) != chat.NotFound {
			t.Errorf("%s across a block: %v", w.name, err)
		}
	}
	if _, _, err := f.store.Delete(ctx, chat.DeleteRequest{Domain: f.dom, Caller: d.a, Peer: d.b,
		MessageID: d.theirs[0].ID, Moderator: true}); err != nil {
		t.Errorf("moderator delete: %v", err)
	}
	if err := f.store.Unblock(ctx, f.dom, d.b, d.a); err != nil {
		t.Fatal(err)
	}
	tight := seedDM(t, f, chat.NewStore(rdb, f.keys, budgetLimits, f.clock.Now))
	for _, w := range writeKinds {
		if w.oneScript {
			continue
		}
		for i := range 3 {
			_ = w.do(ctx, tight, i)
		}
	}
	// A retry, writes stopped between steps, the repair loop.
	for range 2 {
		if _, err := sendVia(ctx, f, f.store, "1", "5", "again", "cid"); err != nil {
			t.Fatal(err)
		}
	}
	for _, stage := range []string{"conversation", "participant"} {
		if _, err := sendVia(ctx, f, crashAt(f, stage), "6", "7", stage, "cid-"+stage); !errors.Is(err, errCrash) {
			t.Fatal(err)
		}
	}
	if _, err := sendVia(ctx, f, f.store, "6", "7", "conversation", "cid-conversation"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.RepairPending(ctx, "n", 0); err != nil {
		t.Fatal(err)
	}
	conv, _ := chat.NewConversation(f.dom, d.a, d.b)
	if _, err := f.store.History(ctx, conv, chat.Page{Number: 1, Size: 10}); err != nil {
		t.Fatal(err)
	}
	if sc.calls < 50 {
		t.Errorf("only %d script calls seen: the hook missed them", sc.calls)
	}
	for _, keys := range sc.crossed {
		t.Errorf("a script's keys span slots: %s", keys)
	}
}
