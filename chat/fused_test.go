package chat_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
	"parley/internal/testutil"
)

// TestFusedSendMatchesSteps: the same sends (new conversations, replies,
// a retry and a reused client id, a block, a spent budget, a send after a
// crash between steps left a gap) through a store whose sends run as one
// script (Limits.SingleNode) and through one that runs them step by step
// answer the same and leave the same keys and values (ids and clocks are
// the same on both; the token buckets, on Redis time, are left out).
func TestFusedSendMatchesSteps(t *testing.T) {
	t.Parallel()
	testutil.SkipInMode(t, "the fused send (Limits.SingleNode) is one script over keys of several slots: CROSSSLOT on a cluster, where server.New never uses it", testutil.ModeCluster)
	type outcome struct {
		id       string
		seq      int64
		replayed bool
		kind     chat.Kind
	}
	run := func(oneScript bool) ([]outcome, map[string]string) {
		f := newFixture(t)
		f.dom = "fused"
		ctx := context.Background()
		ids := 0
		newID := func() (string, error) {
			ids++
			return fmt.Sprintf("00000000-0000-7000-8000-%012d", ids), nil
		}
		lim := chat.Limits{MaxText: 100, SendRate: 0.001, SendBurst: 4}
		s := chat.NewStore(f.rdb, f.keys, lim, f.clock.Now)
		s.SetNewID(newID)
		crash := chat.NewStore(f.rdb, f.keys, chat.Limits{MaxText: 100}, f.clock.Now)
		crash.SetNewID(newID)
		crash.SetStepHook(func(st string) error {
			if st == "participant" {
				return errCrash
			}
			return nil
		})
		if oneScript {
			s = s.OneScript()
		}
		var out []outcome
		send := func(s *chat.Store, from, to chat.UserID, text, cid string) {
			m, _, err := s.Send(ctx, chat.SendRequest{Domain: f.dom, From: from, To: to, ClientID: cid,
				Content: chat.Content{Type: chat.TypeText, Text: text}})
			out = append(out, outcome{m.ID, m.Seq, m.Replayed, chat.KindOf(err)})
		}
		send(s, "1", "2", "hi", "")
		send(s, "2", "1", "hello", "")
		send(s, "1", "2", "with id", "c1")
		send(s, "1", "2", "with id", "c1") // a retry: replayed
		send(s, "1", "2", "other", "c1")   // the id reused: Conflict
		send(crash, "2", "1", "crash", "") // stops after 2's participant step
		send(s, "1", "2", "after the gap", "")
		send(s, "1", "3", "new DM", "")
		if err := s.Block(ctx, f.dom, "3", "1"); err != nil {
			t.Fatal(err)
		}
		send(s, "1", "3", "blocked", "") // Forbidden
		send(s, "2", "3", "third", "")
		send(s, "1", "2", "spent", "") // 1's budget (4) is spent: RateLimited
		snap := map[string]string{}
		for k, v := range f.snapshot(t) {
			k = strings.TrimPrefix(k, f.keys.Prefix)
			if !strings.Contains(k, "bucket") && !strings.Contains(k, "rate") {
				snap[k] = v
			}
		}
		return out, snap
	}
	stepOut, stepKeys := run(false)
	oneOut, oneKeys := run(true)
	if fmt.Sprint(stepOut) != fmt.Sprint(oneOut) {
		t.Errorf("answers differ:\n steps:      %v\n one script: %v", stepOut, oneOut)
	}
	kinds := []chat.Kind{0, 0, 0, 0, chat.Conflict, 0, 0, 0, chat.Forbidden, 0, chat.RateLimited}
	if len(stepOut) != len(kinds) {
		t.Fatalf("%d answers, want %d", len(stepOut), len(kinds))
	}
	for i, o := range stepOut {
		if i != 5 && o.kind != kinds[i] { // 5: the crash
			t.Errorf("send %d: kind %d, want %d", i, o.kind, kinds[i])
		}
	}
	if len(stepKeys) < 20 {
		t.Fatalf("only %d keys written", len(stepKeys))
	}
	for k, v := range stepKeys {
		if oneKeys[k] != v {
			t.Errorf("%s:\n steps:      %s\n one script: %s", k, v, oneKeys[k])
		}
	}
	for k, v := range oneKeys {
		if _, ok := stepKeys[k]; !ok {
			t.Errorf("%s only with one script: %s", k, v)
		}
	}
}

// TestFusedSendOnReplicaIsUnavailable: a send as one script on a
// read-only replica (a failover in progress) is Unavailable (503: retry),
// not Internal, and writes nothing, as step by step.
func TestFusedSendOnReplicaIsUnavailable(t *testing.T) {
	t.Parallel()
	testutil.NeedRedisServer(t)
	primary := testutil.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: testutil.StartRedis(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	host, port, _ := net.SplitHostPort(primary)
	if err := rdb.ReplicaOf(ctx, host, port).Err(); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	f.rdb = rdb
	s := chat.NewStore(rdb, f.keys, chat.Limits{MaxText: 100, SendRate: 100, SendBurst: 100}, f.clock.Now)
	deadline := time.Now().Add(5 * time.Second)
	for _, st := range []*chat.Store{s.OneScript(), s} {
		for _, cid := range []string{"", "c"} {
			_, _, err := st.Send(ctx, chat.SendRequest{Domain: f.dom, From: "1", To: "2", ClientID: cid,
				Content: chat.Content{Type: chat.TypeText, Text: "x"}})
			if chat.KindOf(err) != chat.Unavailable {
				t.Errorf("send on a replica: %v (kind %d), want Unavailable", err, chat.KindOf(err))
			}
		}
	}
	for time.Now().Before(deadline) && rdb.DBSize(ctx).Val() != 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if keys := rdb.Keys(ctx, f.keys.Prefix+"*").Val(); len(keys) > 0 {
		t.Errorf("a send on a replica wrote %v", keys)
	}
}
