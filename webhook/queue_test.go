package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"parley/chat"
	"parley/internal/testutil"
	"parley/webhook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(testutil.Reporting(m)) }

var secret = []byte("test-webhook-secret")

// attempt is one request the receiver got.
type attempt struct {
	at     time.Time
	status int
}

// receiver is the platform side of the tests: it verifies every request
// (method, headers, signature, body id) and answers as policy says.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	policy func(id string, n int) (status int, header http.Header) // n: 1-based attempt of id

	mu       sync.Mutex
	attempts map[string][]attempt
	bodies   map[string]webhook.Payload
	all      []time.Time
}

func newReceiver(t *testing.T, policy func(id string, n int) (int, http.Header)) *receiver {
	r := &receiver{t: t, policy: policy, attempts: map[string][]attempt{}, bodies: map[string]webhook.Payload{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		r.t.Errorf("receiver: read body: %v", err)
		return
	}
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("receiver: got %s with Content-Type %q, want POST application/json", req.Method, req.Header.Get("Content-Type"))
	}
	if err := webhook.Verify(secret, req.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		r.t.Errorf("receiver: signature: %v", err)
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		r.t.Errorf("receiver: body %s: %v", body, err)
	}
	id := req.Header.Get(webhook.EventIDHeader)
	if id != p.ID {
		r.t.Errorf("receiver: %s = %q, body id %q", webhook.EventIDHeader, id, p.ID)
	}
	r.mu.Lock()
	n := len(r.attempts[id]) + 1
	status, h := r.policy(id, n)
	r.attempts[id] = append(r.attempts[id], attempt{at: at, status: status})
	r.bodies[id] = p
	r.all = append(r.all, at)
	r.mu.Unlock()
	if status == 0 { // hang until the sender gives up
		<-req.Context().Done()
		return
	}
	for k, v := range h {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
}

// delivered returns how many ids got a 2xx answer, and how many 2xx
// answers there were in all.
func (r *receiver) delivered() (ids, answers int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, as := range r.attempts {
		ok := 0
		for _, a := range as {
			if a.status >= 200 && a.status < 300 {
				ok++
			}
		}
		if ok > 0 {
			ids++
		}
		answers += ok
	}
	return ids, answers
}

func (r *receiver) attemptsOf(id string) []attempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]attempt(nil), r.attempts[id]...)
}

func (r *receiver) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.all)
}

// fixture is one test's Redis and keyspace.
type fixture struct {
	rdb  redis.UniversalClient
	keys chat.Keys
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	rdb := testutil.Redis(t)
	prefix := testutil.Prefix(t)
	t.Cleanup(func() { testutil.DeleteKeys(t, rdb, prefix+"*") })
	rdb.AddHook(tagChecker{t})
	return fixture{rdb: rdb, keys: chat.Keys{Prefix: prefix}}
}

// tagChecker is a go-redis hook that fails the test when a script call's
// KEYS do not all carry the same hash tag, which Redis Cluster would
// refuse (CROSSSLOT) or, in another slot, run on the wrong node.
type tagChecker struct{ t *testing.T }

func (c tagChecker) check(cmd redis.Cmder) {
	args := cmd.Args()
	if name := strings.ToLower(fmt.Sprint(args[0])); len(args) < 3 || (name != "evalsha" && name != "eval") {
		return
	}
	var n int
	fmt.Sscan(fmt.Sprint(args[2]), &n)
	tags := map[string]bool{}
	for _, k := range args[3 : 3+n] {
		key := fmt.Sprint(k)
		i, j := strings.IndexByte(key, '{'), strings.IndexByte(key, '}')
		if i < 0 || j < i {
			c.t.Errorf("script key %q has no hash tag", key)
			continue
		}
		tags[key[i:j+1]] = true
	}
	if len(tags) > 1 {
		c.t.Errorf("a script call's keys %v carry %d hash tags, want one", args[3:3+n], len(tags))
	}
}

func (c tagChecker) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c tagChecker) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.check(cmd); return next(ctx, cmd) }
}
func (c tagChecker) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.check(cmd)
		}
		return next(ctx, cmds)
	}
}

// fast are options that make retries quick; tests override what they test.
func fast(url string) webhook.Options {
	return webhook.Options{URL: url, Secret: secret, Timeout: 2 * time.Second, RetryBase: 20 * time.Millisecond,
		RetryMax: 200 * time.Millisecond, Poll: 20 * time.Millisecond, Shards: 4, CircuitFailures: 1_000_000}
}

// run starts q.Run and returns a function that stops it and waits for it
// (also called when the test ends).
func run(t *testing.T, q *webhook.Queue) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// eventually fails t when cond does not hold within a generous deadline:
// the bound only keeps a broken queue from hanging the run.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func payload(i int) webhook.Payload {
	return webhook.Payload{ID: "evt-" + strconv.Itoa(i), Type: webhook.MessageNew, Domain: "acme",
		Created: webhook.TimeOf(1_764_547_200_123), To: strconv.Itoa(i % 7), From: "99",
		Conversation: "acme:dm:1-2", Message: json.RawMessage(`{"id":"m1","text":"hi"}`), Unread: 3}
}

func payloads(n int) []webhook.Payload {
	ps := make([]webhook.Payload, n)
	for i := range ps {
		ps[i] = payload(i)
	}
	return ps
}

// TestRetriesUntilDelivered: every webhook fails twice with 500, then is
// delivered: each arrives (2xx) exactly once, after exactly 3 attempts,
// with gaps at least the backoff's minimum, which grows; every body is
// the payload as queued.
func TestRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rcv := newReceiver(t, func(_ string, n int) (int, http.Header) {
		if n <= 2 {
			return http.StatusInternalServerError, nil
		}
		return http.StatusNoContent, nil
	})
	o := fast(rcv.srv.URL)
	q := webhook.New(f.rdb, f.keys, o)
	const n = 50
	if err := q.Enqueue(context.Background(), payloads(n)...); err != nil {
		t.Fatal(err)
	}
	run(t, q)
	eventually(t, "every webhook is delivered", func() bool { ids, _ := rcv.delivered(); return ids == n })
	if ids, answers := rcv.delivered(); answers != n {
		t.Errorf("%d 2xx answers for %d webhooks, want one each", answers, ids)
	}
	for i := range n {
		id := payload(i).ID
		as := rcv.attemptsOf(id)
		if len(as) != 3 {
			t.Errorf("%s: %d attempts, want 3", id, len(as))
			continue
		}
		// Backoff after failure k is in [c/2, c), c = RetryBase * 2^(k-1).
		if gap := as[1].at.Sub(as[0].at); gap < o.RetryBase/2 {
			t.Errorf("%s: gap before attempt 2 = %s, want >= %s", id, gap, o.RetryBase/2)
		}
		if gap := as[2].at.Sub(as[1].at); gap < o.RetryBase {
			t.Errorf("%s: gap before attempt 3 = %s, want >= %s (the most the first backoff can be)", id, gap, o.RetryBase)
		}
	}
	got := rcv.bodies[payload(5).ID]
	want := payload(5)
	if got.Created.ISO != "2025-12-01T00:00:00.123Z" || got.Created.Epoch != want.Created.Epoch || got.To != want.To ||
		got.Unread != 3 || string(got.Message) != string(want.Message) || got.Online != nil {
		t.Errorf("body = %+v, want %+v", got, want)
	}
	eventually(t, "every delivery is counted", func() bool { return q.Stats().Delivered == n })
	s := q.Stats()
	if s.Queued != n || s.Delivered != n || s.Retried != 2*n || s.Dead != 0 || s.Requests != 3*n || s.Latency.Count != n {
		t.Errorf("Stats = %+v, want %d queued and delivered, %d retried, none dead", s, n, 2*n)
	}
	if last := s.Latency.Counts[len(s.Latency.Counts)-1]; last != n {
		t.Errorf("latency histogram holds %d deliveries in its last bucket, want %d", last, n)
	}
}

// TestEnqueueIsIdempotent: the same id queued twice (in one call and
// again later) is one entry and one delivery, and queueing it after it
// was delivered does nothing either.
func TestEnqueueIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rcv := newReceiver(t, func(string, int) (int, http.Header) { return http.StatusOK, nil })
	o := fast(rcv.srv.URL)
	q := webhook.New(f.rdb, f.keys, o)
	ctx := context.Background()
	p := payload(1)
	if err := q.Enqueue(ctx, p, p); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(ctx, p); err != nil {
		t.Fatal(err)
	}
	if n := queued(t, f, o.Shards); n != 1 {
		t.Fatalf("%d entries queued, want 1", n)
	}
	run(t, q)
	eventually(t, "it is delivered and the queue is empty", func() bool {
		ids, _ := rcv.delivered()
		return ids == 1 && queued(t, f, o.Shards) == 0 && pending(t, f, o.Shards) == 0
	})
	if err := q.Enqueue(ctx, p); err != nil {
		t.Fatal(err)
	}
	if n := queued(t, f, o.Shards); n != 0 {
		t.Errorf("queueing a delivered id again queued %d entries, want 0", n)
	}
	if as := rcv.attemptsOf(p.ID); len(as) != 1 {
		t.Errorf("%d requests, want 1", len(as))
	}
	if s := q.Stats(); s.Queued != 1 {
		t.Errorf("Stats.Queued = %d, want 1", s.Queued)
	}
}

// TestDedupeWindow: an id is remembered for MaxAge and then forgotten,
// which keeps the dedupe set bounded.
func TestDedupeWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	o := fast("http://127.0.0.1:1/unused") // nothing is delivered: Run is not started
	o.Shards = 1
	o.MaxAge = 200 * time.Millisecond
	q := webhook.New(f.rdb, f.keys, o)
	ctx := context.Background()
	if err := q.Enqueue(ctx, payload(1), payload(2)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(o.MaxAge + 50*time.Millisecond)
	if err := q.Enqueue(ctx, payload(1), payload(3)); err != nil {
		t.Fatal(err)
	}
	ids, err := f.rdb.ZRange(ctx, f.keys.WebhookIDs(0), 0, -1).Result()
	if err != nil || !slices.Equal(ids, []string{"evt-1", "evt-3"}) && !slices.Equal(ids, []string{"evt-3", "evt-1"}) {
		t.Errorf("dedupe ids = %v, %v; want evt-1 (queued again once its age passed) and evt-3", ids, err)
	}
	if s := q.Stats(); s.Queued != 4 {
		t.Errorf("Stats.Queued = %d, want 4", s.Queued)
	}
}

// queued returns the entries in every shard's queue stream and retry set.
func queued(t *testing.T, f fixture, shards int) int64 {
	t.Helper()
	var n int64
	for s := range shards {
		n += f.rdb.XLen(context.Background(), f.keys.WebhookQueue(s)).Val()
		n += f.rdb.ZCard(context.Background(), f.keys.WebhookRetry(s)).Val()
	}
	return n
}

// pending returns the entries read and not settled over every shard.
func pending(t *testing.T, f fixture, shards int) int64 {
	t.Helper()
	var n int64
	for s := range shards {
		p, err := f.rdb.XPending(context.Background(), f.keys.WebhookQueue(s), "webhook").Result()
		if err == nil {
			n += p.Count
		}
	}
	return n
}

// TestRetryAfter: a 429 with Retry-After: 1 delays the next attempt by at
// least a second, however short the backoff.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rcv := newReceiver(t, func(_ string, n int) (int, http.Header) {
		if n == 1 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}}
		}
		return http.StatusOK, nil
	})
	q := webhook.New(f.rdb, f.keys, fast(rcv.srv.URL))
	p := payload(1)
	if err := q.Enqueue(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	run(t, q)
	eventually(t, "it is delivered", func() bool { ids, _ := rcv.delivered(); return ids == 1 })
	as := rcv.attemptsOf(p.ID)
	if len(as) != 2 {
		t.Fatalf("%d attempts, want 2", len(as))
	}
	if gap := as[1].at.Sub(as[0].at); gap < time.Second {
		t.Errorf("retry %s after the 429, want >= 1s (Retry-After)", gap)
	}
}

// TestDeadLetters: a 400 is dead at once; a receiver down for longer than
// the maximum age kills the webhook after some attempts; Dead lists both
// with their errors; Replay by id and then of all delivers them once the
// receiver is up, and replaying again queues nothing.
func TestDeadLetters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var mu sync.Mutex
	up := false
	rcv := newReceiver(t, func(id string, n int) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case id == "bad" && n == 1:
			return http.StatusBadRequest, nil
		case !up:
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	})
	o := fast(rcv.srv.URL)
	o.MaxAge = 300 * time.Millisecond
	q := webhook.New(f.rdb, f.keys, o)
	ctx := context.Background()
	bad, down1, down2 := payload(1), payload(2), payload(3)
	bad.ID, down1.ID, down2.ID = "bad", "down1", "down2"
	if err := q.Enqueue(ctx, bad, down1, down2); err != nil {
		t.Fatal(err)
	}
	stop := run(t, q)
	var dead []webhook.DeadEntry
	eventually(t, "all three are dead", func() bool {
		var err error
		dead, err = q.Dead(ctx, 10)
		return err == nil && len(dead) == 3
	})
	byID := map[string]webhook.DeadEntry{}
	for _, d := range dead {
		byID[d.ID] = d
	}
	if d := byID["bad"]; d.Attempts != 1 || !strings.Contains(d.Error, "HTTP 400") || d.Type != webhook.MessageNew || d.To != bad.To {
		t.Errorf("dead 400 = %+v, want 1 attempt and the 400", d)
	}
	for _, id := range []string{"down1", "down2"} {
		d := byID[id]
		if d.Attempts < 1 || !strings.Contains(d.Error, "maximum age") || !strings.Contains(d.Error, "HTTP 503") {
			t.Errorf("dead %s = %+v, want attempts and the maximum age and 503 in the error", id, d)
		}
		if got := len(rcv.attemptsOf(id)); got != d.Attempts {
			t.Errorf("%s: receiver saw %d attempts, dead entry says %d", id, got, d.Attempts)
		}
	}
	eventually(t, "the dead are counted", func() bool { return q.Stats().Dead == 3 })
	if s := q.Stats(); s.Dead != 3 || s.Delivered != 0 {
		t.Errorf("Stats = %+v, want 3 dead", s)
	}
	if dead, _ := q.Dead(ctx, 2); len(dead) != 2 {
		t.Errorf("Dead(2) returned %d entries", len(dead))
	}
	stop()

	mu.Lock()
	up = true
	mu.Unlock()
	q = webhook.New(f.rdb, f.keys, o)
	run(t, q)
	if n, err := q.Replay(ctx, "down1", "nosuch"); n != 1 || err != nil {
		t.Fatalf("Replay(down1) = %d, %v; want 1", n, err)
	}
	eventually(t, "down1 is delivered", func() bool { return len(rcv.attemptsOf("down1")) == byID["down1"].Attempts+1 })
	if n, err := q.Replay(ctx); n != 2 || err != nil {
		t.Fatalf("Replay() = %d, %v; want the 2 left", n, err)
	}
	if n, err := q.Replay(ctx); n != 0 || err != nil {
		t.Fatalf("Replay() again = %d, %v; want 0", n, err)
	}
	eventually(t, "all are delivered", func() bool { ids, _ := rcv.delivered(); return ids == 3 })
	if _, answers := rcv.delivered(); answers != 3 {
		t.Errorf("%d 2xx answers, want 3", answers)
	}
	if dead, err := q.Dead(ctx, 10); len(dead) != 0 || err != nil {
		t.Errorf("Dead after replay = %v, %v; want none", dead, err)
	}
}

// TestReclaim: entries a dead consumer read and never settled, and entries
// a node was delivering when it stopped, are taken over by another node
// and delivered; none is lost.
func TestReclaim(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	rcv := newReceiver(t, func(id string, n int) (int, http.Header) {
		if strings.HasPrefix(id, "hang-") && n == 1 {
			return 0, nil // hangs until the sender is stopped
		}
		return http.StatusOK, nil
	})
	o := fast(rcv.srv.URL)
	o.ReclaimIdle = 300 * time.Millisecond

	// A consumer that read every entry and died.
	const n = 20
	if err := webhook.New(f.rdb, f.keys, o).Enqueue(ctx, payloads(n)...); err != nil {
		t.Fatal(err)
	}
	var read int
	for s := range o.Shards {
		stream := f.keys.WebhookQueue(s)
		if err := f.rdb.XGroupCreateMkStream(ctx, stream, "webhook", "0").Err(); err != nil {
			t.Fatal(err)
		}
		res, err := f.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "webhook", Consumer: "died",
			Streams: []string{stream, ">"}, Count: 100, Block: -1}).Result()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		for _, r := range res {
			read += len(r.Messages)
		}
	}
	if read != n {
		t.Fatalf("the dead consumer read %d entries, want %d", read, n)
	}

	// A node stopped in the middle of deliveries.
	hang := make([]webhook.Payload, 5)
	for i := range hang {
		hang[i] = payload(100 + i)
		hang[i].ID = "hang-" + strconv.Itoa(i)
	}
	a := webhook.New(f.rdb, f.keys, withNode(o, "a"))
	if err := a.Enqueue(ctx, hang...); err != nil {
		t.Fatal(err)
	}
	stopA := run(t, a)
	eventually(t, "node a is delivering every hanging webhook", func() bool {
		for _, p := range hang {
			if len(rcv.attemptsOf(p.ID)) == 0 {
				return false
			}
		}
		return true
	})
	stopA()

	b := webhook.New(f.rdb, f.keys, withNode(o, "b"))
	run(t, b)
	eventually(t, "node b delivered them all", func() bool { ids, _ := rcv.delivered(); return ids == n+len(hang) })
	eventually(t, "nothing is left", func() bool { return queued(t, f, o.Shards) == 0 && pending(t, f, o.Shards) == 0 })
	if _, answers := rcv.delivered(); answers != n+len(hang) {
		t.Errorf("%d 2xx answers, want one per webhook (%d)", answers, n+len(hang))
	}
	// The stopped consumers hold nothing now and are forgotten. (The
	// embedded store reports no consumer idle times, so there they stay:
	// it serves one process, whose consumers are few.)
	if testutil.OnEmbedded() {
		return
	}
	eventually(t, "only node b is left in every shard's group", func() bool {
		for s := range o.Shards {
			cs, err := f.rdb.XInfoConsumers(ctx, f.keys.WebhookQueue(s), "webhook").Result()
			if err != nil || len(cs) != 1 || cs[0].Name != "b" {
				return false
			}
		}
		return true
	})
}

func withNode(o webhook.Options, node string) webhook.Options {
	o.Node = node
	return o
}

// TestTwoNodes: two nodes consume the same shards; every webhook arrives,
// once.
func TestTwoNodes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rcv := newReceiver(t, func(string, int) (int, http.Header) { return http.StatusOK, nil })
	o := fast(rcv.srv.URL)
	a, b := webhook.New(f.rdb, f.keys, withNode(o, "a")), webhook.New(f.rdb, f.keys, withNode(o, "b"))
	run(t, a)
	run(t, b)
	const n = 200
	ps := payloads(n)
	ctx := context.Background()
	for i, p := range ps { // both nodes queue, as fan-out on either would
		q := a
		if i%2 == 1 {
			q = b
		}
		if err := q.Enqueue(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "every webhook is delivered", func() bool { ids, _ := rcv.delivered(); return ids == n })
	if _, answers := rcv.delivered(); answers != n {
		t.Errorf("%d 2xx answers for %d webhooks, want one each", answers, n)
	}
	// The counters move once an entry is settled, a moment after the 2xx.
	eventually(t, "both nodes count every delivery", func() bool { return a.Stats().Delivered+b.Stats().Delivered >= n })
	if sa, sb := a.Stats(), b.Stats(); sa.Delivered+sb.Delivered != n || sa.Queued+sb.Queued != n {
		t.Errorf("delivered %d + %d, queued %d + %d; want %d in all", sa.Delivered, sb.Delivered, sa.Queued, sb.Queued, n)
	}
}

// TestCircuit: against a receiver that fails every request, the circuit
// bounds the requests to the failures that open it, the requests already
// in flight then, and one probe per pause; without it the tiny backoff
// would send hundreds.
func TestCircuit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rcv := newReceiver(t, func(string, int) (int, http.Header) { return http.StatusInternalServerError, nil })
	o := fast(rcv.srv.URL)
	o.RetryBase, o.RetryMax = time.Millisecond, 2*time.Millisecond
	o.Poll = 5 * time.Millisecond
	o.Concurrency = 4
	o.CircuitFailures = 3
	o.CircuitPause, o.CircuitMaxPause = 200*time.Millisecond, 200*time.Millisecond
	q := webhook.New(f.rdb, f.keys, o)
	if err := q.Enqueue(context.Background(), payloads(20)...); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	stop := run(t, q)
	time.Sleep(1500 * time.Millisecond)
	stop()
	elapsed := time.Since(start)
	got := rcv.requests()
	limit := o.CircuitFailures + o.Concurrency + int(elapsed/o.CircuitPause) + 1
	if got > limit {
		t.Errorf("%d requests in %s, want at most %d (%d to open, %d in flight, one probe per %s)",
			got, elapsed, limit, o.CircuitFailures, o.Concurrency, o.CircuitPause)
	}
	if got < o.CircuitFailures {
		t.Errorf("%d requests, want at least the %d that open the circuit", got, o.CircuitFailures)
	}
	if n := queued(t, f, o.Shards); n != 20 { // the queue streams hold pending entries too
		t.Errorf("%d webhooks still queued, want all 20 (none lost, none dead)", n)
	}
}

// TestRedisErrors: Redis starts refusing writes (out of memory) while
// requests are out, so their success cannot be recorded; nothing is lost:
// once Redis accepts writes again every webhook is delivered (those again:
// at least once) and the queue empties.
func TestRedisErrors(t *testing.T) {
	t.Parallel()
	testutil.NeedRedisServer(t) // changes the server's maxmemory: a private one
	rdb := redis.NewClient(&redis.Options{Addr: testutil.StartRedis(t)})
	t.Cleanup(func() { _ = rdb.Close() })
	f := fixture{rdb: rdb, keys: chat.Keys{Prefix: testutil.Prefix(t)}}
	ctx := context.Background()
	refusing := make(chan struct{})
	var once sync.Once
	rcv := newReceiver(t, func(string, int) (int, http.Header) {
		once.Do(func() {
			if err := rdb.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
				t.Errorf("config set maxmemory: %v", err)
			}
			close(refusing)
		})
		return http.StatusOK, nil
	})
	var logs testutil.SyncBuffer
	o := fast(rcv.srv.URL)
	o.ReclaimIdle = 300 * time.Millisecond
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	q := webhook.New(f.rdb, f.keys, o)
	const n = 20
	if err := q.Enqueue(ctx, payloads(n)...); err != nil {
		t.Fatal(err)
	}
	run(t, q)
	<-refusing
	eventually(t, "a success cannot be recorded", func() bool { return strings.Contains(logs.String(), "cannot settle") })
	if got := queued(t, f, o.Shards); got == 0 {
		t.Errorf("while Redis refuses writes no webhook is queued, want the one whose success was not recorded")
	}
	if err := rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every webhook is delivered", func() bool { ids, _ := rcv.delivered(); return ids == n })
	eventually(t, "the queue is empty", func() bool { return queued(t, f, o.Shards) == 0 && pending(t, f, o.Shards) == 0 })
}

// TestTimeoutsAndConnectionErrorsRetry: a request that times out is
// retried (and then delivered); a receiver that refuses connections is
// retried until the maximum age and then dead-lettered with the error.
func TestTimeoutsAndConnectionErrorsRetry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	rcv := newReceiver(t, func(_ string, n int) (int, http.Header) {
		if n == 1 {
			return 0, nil // hangs past the timeout
		}
		return http.StatusOK, nil
	})
	o := fast(rcv.srv.URL)
	o.Timeout = 200 * time.Millisecond
	q := webhook.New(f.rdb, f.keys, o)
	p := payload(1)
	if err := q.Enqueue(ctx, p); err != nil {
		t.Fatal(err)
	}
	run(t, q)
	eventually(t, "it is delivered", func() bool { ids, _ := rcv.delivered(); return ids == 1 })
	if as := rcv.attemptsOf(p.ID); len(as) != 2 || as[1].at.Sub(as[0].at) < o.Timeout {
		t.Errorf("attempts = %v, want the timed-out one and a later one", as)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	o = fast(closed.URL)
	o.MaxAge = 300 * time.Millisecond
	f2 := newFixture(t)
	q2 := webhook.New(f2.rdb, f2.keys, o)
	if err := q2.Enqueue(ctx, p); err != nil {
		t.Fatal(err)
	}
	run(t, q2)
	var dead []webhook.DeadEntry
	eventually(t, "it is dead", func() bool { dead, _ = q2.Dead(ctx, 1); return len(dead) == 1 })
	if d := dead[0]; d.Attempts < 2 || !strings.Contains(d.Error, "refused") || !strings.Contains(d.Error, "maximum age") {
		t.Errorf("dead = %+v, want several attempts and the connection error", d)
	}
}
