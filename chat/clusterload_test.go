package chat_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley/chat"
	"parley/internal/testutil"
)

// TestKeysSpreadOverPrimaries: 10 000 sends between 1 000 users on a
// Redis Cluster of 3 primaries leave a share of the keys on every primary
// (hash tags per user and per conversation, no hot slot). The spread is
// logged per primary.
func TestKeysSpreadOverPrimaries(t *testing.T) {
	t.Parallel()
	addrs := testutil.StartCluster(t)
	rdb := testutil.ClusterClient(t, addrs)
	keys := chat.Keys{Prefix: testutil.Prefix(t), Sharded: true}
	dom := chat.Domain(testutil.Domain(t))
	s := chat.NewStore(rdb, keys, chat.Limits{MaxText: 100}, time.Now)
	const users, sends, workers = 1000, 10_000, 16
	ctx := context.Background()
	var next atomic.Int64
	var failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		rng := rand.New(rand.NewPCG(uint64(w), 7))
		wg.Go(func() {
			for next.Add(1) <= sends {
				from := rng.IntN(users)
				to := (from + 1 + rng.IntN(users-1)) % users
				if _, _, err := s.Send(ctx, chat.SendRequest{Domain: dom, From: chat.UserID(fmt.Sprint(from + 1)),
					To: chat.UserID(fmt.Sprint(to + 1)), Content: chat.Content{Type: chat.TypeText, Text: "hi"}}); err != nil {
					if failed.Add(1) == 1 {
						t.Errorf("send: %v", err)
					}
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d sends failed", n, sends)
	}
	per := testutil.KeysPerPrimary(t, rdb, keys.Prefix+"*")
	primaries := testutil.ClusterPrimaries(t, addrs)
	total := 0
	for _, p := range primaries {
		total += len(per[p])
	}
	if len(per) != len(primaries) {
		t.Errorf("keys on %d nodes %v, want the %d primaries %v", len(per), mapKeys(per), len(primaries), primaries)
	}
	sort.Strings(primaries)
	for _, p := range primaries {
		share := float64(len(per[p])) / float64(total)
		t.Logf("primary %s: %d keys (%.1f%%)", p, len(per[p]), 100*share)
		// A third each when the tags hash evenly; a primary below a fifth
		// means a hot slot (an untagged or constant-tagged key family).
		if share < 0.2 {
			t.Errorf("primary %s holds %.1f%% of %d keys, want at least 20%% (every primary a share)", p, 100*share, total)
		}
	}
	t.Logf("%d sends between %d users by %d workers in %s (%.0f sends/s); %d keys over %d primaries",
		sends, users, workers, took.Round(time.Millisecond), sends/took.Seconds(), total, len(primaries))
}

func mapKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestCrashUnderLoadConverges: concurrent sends among a few users, a part
// of them through nodes that die between steps (after the conversation
// step or after the first participant step), interleaved with sends that
// complete in the same conversations. Then the repair loop runs. After it
// every DM holds each acknowledged and each stopped send once, no fan-out
// is left pending, both inboxes point at the newest message, each user's
// event log runs 1..n with no id skipped or repeated and holds each
// message of each of their DMs once, in the DM's order, and the unread
// totals agree with the logs. Runs on the run's Redis (the cluster in the
// CI's cluster pass).
func TestCrashUnderLoadConverges(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	const users, workers, perWorker = 12, 8, 60
	var calls atomic.Int64
	crashing := chat.NewStore(f.rdb, f.keys, chat.Limits{MaxText: 100}, f.clock.Now)
	crashing.SetStepHook(func(stage string) error {
		// About one hook call in four dies: a third of the crashing
		// workers' sends stop half-done, at either stage.
		if calls.Add(1)%4 == 0 {
			return errCrash
		}
		return nil
	})
	var mu sync.Mutex
	acked := map[string]bool{}
	var stopped, sent int
	var wg sync.WaitGroup
	for w := range workers {
		s := f.store
		if w%2 == 0 {
			s = crashing
		}
		rng := rand.New(rand.NewPCG(uint64(w), 11))
		wg.Go(func() {
			for i := range perWorker {
				from := rng.IntN(users)
				to := (from + 1 + rng.IntN(users-1)) % users
				m, _, err := s.Send(ctx, chat.SendRequest{Domain: f.dom, From: chat.UserID(fmt.Sprint(from + 1)),
					To: chat.UserID(fmt.Sprint(to + 1)), Content: chat.Content{Type: chat.TypeText, Text: fmt.Sprint("w", w, " m", i)}})
				mu.Lock()
				sent++
				switch {
				case err == nil:
					if acked[m.ID] {
						t.Errorf("message %s acknowledged twice", m.ID)
					}
					acked[m.ID] = true
				case errors.Is(err, errCrash):
					stopped++
				default:
					t.Errorf("send: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var convs []chat.Conversation
	pendingBefore := int64(0)
	for a := 1; a <= users; a++ {
		for b := a + 1; b <= users; b++ {
			c, _ := chat.NewConversation(f.dom, chat.UserID(fmt.Sprint(a)), chat.UserID(fmt.Sprint(b)))
			convs = append(convs, c)
			pendingBefore += f.rdb.ZCard(ctx, f.keys.Pending(c)).Val()
		}
	}
	if stopped == 0 || pendingBefore == 0 {
		t.Fatalf("%d sends stopped, %d ops pending: the load left nothing half-done", stopped, pendingBefore)
	}
	repairer := chat.NewStore(f.rdb, f.keys, chat.Limits{MaxText: 100}, f.clock.Now)
	repaired := 0
	for range 5 {
		n, err := repairer.RepairPending(ctx, "repairer", 0)
		if err != nil {
			t.Fatalf("repair: %v", err)
		}
		if n == 0 {
			break
		}
		repaired += n
	}
	t.Logf("%d sends: %d acknowledged, %d stopped between steps; %d ops pending before the repair, %d completed by it",
		sent, len(acked), stopped, pendingBefore, repaired)

	// Every DM: each message once; acknowledged ones all there.
	dmOrder := map[[2]chat.UserID][]string{} // (user, peer) -> the DM's message ids in order
	stored := 0
	for _, c := range convs {
		assertNothingPending(t, f, c)
		f.assertConsistent(t, c.Lo, c.Hi)
		ids := f.rdb.ZRange(ctx, f.keys.DM(c), 0, -1).Val()
		stored += len(ids)
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Errorf("%s holds %s twice", c.Key(), id)
			}
			seen[id] = true
			delete(acked, id)
		}
		dmOrder[[2]chat.UserID{c.Lo, c.Hi}] = ids
		dmOrder[[2]chat.UserID{c.Hi, c.Lo}] = ids
	}
	if len(acked) > 0 {
		t.Errorf("%d acknowledged messages missing from their DMs", len(acked))
	}
	if stored != sent {
		t.Errorf("the DMs hold %d messages, want the %d sends (acknowledged or stopped after their conversation step)", stored, sent)
	}

	// Every user's event log and unread total.
	events := 0
	for i := 1; i <= users; i++ {
		u := chat.UserID(fmt.Sprint(i))
		evs, last, gone, err := f.store.EventsAfter(ctx, f.dom, u, 0, 10_000)
		if err != nil || gone || int64(len(evs)) != last {
			t.Fatalf("events of %s: %d, last %d, gone %v, %v", u, len(evs), last, gone, err)
		}
		events += len(evs)
		got := map[chat.UserID][]string{}
		unread := map[chat.UserID]int64{}
		for k, ev := range evs {
			if ev.ID != int64(k+1) {
				t.Errorf("event %d of %s has id %d: an id skipped or repeated", k, u, ev.ID)
			}
			if ev.Type != chat.EventNew {
				t.Errorf("event %d of %s is %s, want only %s", ev.ID, u, ev.Type, chat.EventNew)
				continue
			}
			got[ev.Peer] = append(got[ev.Peer], ev.Msg.ID)
			if ev.Msg.Author == u {
				unread[ev.Peer] = 0 // a reply reads the DM
			} else {
				unread[ev.Peer]++
			}
		}
		var wantUnread int64
		for j := 1; j <= users; j++ {
			p := chat.UserID(fmt.Sprint(j))
			if p == u {
				continue
			}
			if want := dmOrder[[2]chat.UserID{u, p}]; fmt.Sprint(got[p]) != fmt.Sprint(want) {
				t.Errorf("%s's log holds %v for the DM with %s, want each of %v once, in order", u, got[p], p, want)
			}
			wantUnread += unread[p]
		}
		assertUnread(t, f, u, wantUnread)
	}
	t.Logf("%d messages in %d DMs, %d events over %d users' logs agree", stored, len(convs), events, users)
}
