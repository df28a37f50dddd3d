package webhook

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
)

var (
	//go:embed enqueue.lua
	enqueueLua string
	//go:embed retry.lua
	retryLua string
	//go:embed dead.lua
	deadLua string
	//go:embed promote.lua
	promoteLua string
	//go:embed replay.lua
	replayLua string
	//go:embed consumers.lua
	consumersLua string
)

// Event types a Payload can have.
const (
	MessageNew    = "message.new"
	MessageEdit   = "message.edit"
	MessageDelete = "message.delete"
	MessageRead   = "message.read"
)

// Payload is one webhook's JSON body.
type Payload struct {
	ID           string          `json:"id"`      // unique per webhook, the same on every retry: the caller builds it
	Type         string          `json:"type"`    // MessageNew, MessageEdit, MessageDelete or MessageRead
	Domain       string          `json:"domain"`  // the domain handle
	Created      Time            `json:"created"` // when the event happened
	To           string          `json:"to"`      // the user the event is for
	From         string          `json:"from"`    // the user who caused it
	Conversation string          `json:"conversation"`
	Message      json.RawMessage `json:"message"`          // the message as the REST API renders it
	Unread       int64           `json:"unread"`           // To's unread messages after the event
	Online       *bool           `json:"online,omitempty"` // whether To was online; only when not offline-only
}

// Time is an instant as the REST API renders one: epoch milliseconds and
// the same instant in RFC 3339 with milliseconds, UTC.
type Time struct {
	Epoch int64  `json:"epoch"`
	ISO   string `json:"iso"`
}

// TimeOf returns the Time of epoch milliseconds ms.
func TimeOf(ms int64) Time {
	return Time{Epoch: ms, ISO: time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")}
}

// Options configure a Queue; zero fields take the defaults named.
type Options struct {
	URL    string // where webhooks are POSTed
	Secret []byte // signs every request (Sign)

	MaxAge      time.Duration // how long after first being queued a webhook is retried; also the dedupe window (24h)
	Timeout     time.Duration // of one request (5s)
	Concurrency int           // requests in flight per node (8; PARLEY_WEBHOOK_CONCURRENCY, 32, in a server)
	Shards      int           // queue shards; every node must use the same number (8)
	RetryBase   time.Duration // backoff of the first retry (1s)
	RetryMax    time.Duration // backoff cap (10m)
	ReclaimIdle time.Duration // an entry held this long by a node is taken over by another (3 * Timeout)
	Poll        time.Duration // longest wait for new entries before due retries are looked at again (1s)
	Batch       int           // entries read per round trip (16)
	DeadMax     int64         // about how many dead letters each shard keeps (10000)

	CircuitFailures int           // consecutive failures that open the circuit (5)
	CircuitPause    time.Duration // first pause of an open circuit; doubles on each failed probe (1s)
	CircuitMaxPause time.Duration // longest pause (1m)

	Node   string       // this node's consumer name (host name and process id)
	Logger *slog.Logger // (discards)
	Client *http.Client // (one that follows no redirects)
}

// withDefaults fills the zero fields of o.
// DefaultShards is the number of queue shards (Options.Shards' default);
// every node and the CLI use it.
const DefaultShards = 8

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.MaxAge, 24*time.Hour)
	def(&o.Timeout, 5*time.Second)
	def(&o.RetryBase, time.Second)
	def(&o.RetryMax, 10*time.Minute)
	def(&o.ReclaimIdle, 3*o.Timeout)
	def(&o.Poll, time.Second)
	def(&o.CircuitPause, time.Second)
	def(&o.CircuitMaxPause, time.Minute)
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Shards <= 0 {
		o.Shards = DefaultShards
	}
	if o.Batch <= 0 {
		o.Batch = 16
	}
	if o.DeadMax <= 0 {
		o.DeadMax = 10_000
	}
	if o.CircuitFailures <= 0 {
		o.CircuitFailures = 5
	}
	if o.Node == "" {
		host, _ := os.Hostname()
		o.Node = host + "-" + strconv.Itoa(os.Getpid())
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return o
}

// group is the consumer group every node reads the queue through.
const group = "webhook"

// Queue is the durable event-webhook queue of one receiver URL. It is
// safe for concurrent use; every node builds one with the same keys and
// Shards and runs Run.
type Queue struct {
	rdb   redis.UniversalClient
	keys  chat.Keys
	o     Options
	log   *slog.Logger
	now   func() time.Time
	stats stats
	cb    circuit
	slots chan struct{} // one token per request in flight
	wg    sync.WaitGroup

	enqueue, retry, dead, promote, replay, consumers *redis.Script
}

// New returns the queue of o.URL in rdb under keys.
func New(rdb redis.UniversalClient, keys chat.Keys, o Options) *Queue {
	o = o.withDefaults()
	return &Queue{
		rdb: rdb, keys: keys, o: o, log: o.Logger, now: time.Now,
		cb:    circuit{threshold: o.CircuitFailures, base: o.CircuitPause, max: o.CircuitMaxPause},
		slots: make(chan struct{}, o.Concurrency),

		enqueue: redis.NewScript(enqueueLua),
		retry:   redis.NewScript(retryLua),
		dead:    redis.NewScript(deadLua),
		promote: redis.NewScript(promoteLua),
		replay:  redis.NewScript(replayLua),

		consumers: redis.NewScript(consumersLua),
	}
}

// record is what the queue stores of a webhook: the body it sends and
// the state of its delivery.
type record struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	To       string          `json:"to"`
	Shard    int             `json:"shard"`
	First    int64           `json:"first"` // epoch ms it was first queued (or replayed)
	Attempts int             `json:"n"`
	Err      string          `json:"err,omitempty"` // why the last attempt failed
	Body     json.RawMessage `json:"body"`          // the Payload's JSON, signed and sent as is
}

// shard returns the shard of a webhook for user to of domain.
func (q *Queue) shard(domain, to string) int {
	h := fnv.New32a()
	h.Write([]byte(domain))
	h.Write([]byte{0})
	h.Write([]byte(to))
	return int(h.Sum32() % uint32(q.o.Shards))
}

// maxEnqueue bounds the webhooks one enqueue script call carries.
const maxEnqueue = 100

// Enqueue queues ps for delivery. It is idempotent by Payload.ID within
// MaxAge: an id queued before (delivered, pending or dead) is skipped, so
// the caller may run it again after an error or from a repair loop. A
// payload without an ID or Type is an error and nothing is queued; on a
// Redis error some shards may be queued and others not, and running it
// again completes them.
func (q *Queue) Enqueue(ctx context.Context, ps ...Payload) error {
	now := q.now().UnixMilli()
	byShard := map[int][]any{}
	for _, p := range ps {
		if p.ID == "" || p.Type == "" {
			return fmt.Errorf("webhook: enqueue: payload %q has no id or type", p.ID)
		}
		body, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("webhook: enqueue %s: %w", p.ID, err)
		}
		s := q.shard(p.Domain, p.To)
		rec, err := json.Marshal(record{ID: p.ID, Type: p.Type, To: p.To, Shard: s, First: now, Body: body})
		if err != nil {
			return fmt.Errorf("webhook: enqueue %s: %w", p.ID, err)
		}
		byShard[s] = append(byShard[s], p.ID, string(rec))
	}
	var errs []error
	for s, args := range byShard {
		for len(args) > 0 {
			n := min(len(args), 2*maxEnqueue)
			added, err := q.enqueue.Run(ctx, q.rdb, []string{q.keys.WebhookQueue(s), q.keys.WebhookIDs(s)},
				append([]any{now, q.o.MaxAge.Milliseconds()}, args[:n]...)...).Int64()
			if err != nil {
				errs = append(errs, fmt.Errorf("webhook: enqueue in shard %d: %w", s, err))
				break
			}
			q.stats.queued.Add(added)
			args = args[n:]
		}
	}
	return errors.Join(errs...)
}
