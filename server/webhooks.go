package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"parley/chat"
	"parley/webhook"
)

// webhookQueue is the slice of webhook.Queue the notifier uses.
type webhookQueue interface {
	Enqueue(ctx context.Context, ps ...webhook.Payload) error
}

// onlineChecker tells whether users have a live device on any node
// (presence.Tracker).
type onlineChecker interface {
	Online(ctx context.Context, d chat.Domain, ids []chat.UserID) ([]bool, error)
}

// unreadCounter reads a user's unread total (chat.Store).
type unreadCounter interface {
	UnreadTotal(ctx context.Context, d chat.Domain, u chat.UserID) (int64, error)
}

// webhookTypes names each logged event type as a webhook type.
var webhookTypes = map[string]string{
	chat.EventNew:    "message.new",
	chat.EventEdit:   "message.edit",
	chat.EventDelete: "message.delete",
	chat.EventRead:   "message.read",
}

// webhookNotifier turns each op the chat store completes into webhooks
// (a chat.Notifier): one per participant told of a change someone else
// made, for the types configured; offline-only, only to participants with
// no live socket or event stream on any node. It runs before the op is
// marked done, so a webhook is queued before the write is acknowledged,
// and a write completed after a crash queues it then (Enqueue drops a
// repeat by id).
type webhookNotifier struct {
	queue       webhookQueue
	types       map[string]bool // webhook types (message.new, ...) to send
	offlineOnly bool
	online      onlineChecker
	unread      unreadCounter
	render      renderer
}

// webhookTarget is one participant a webhook may go to.
type webhookTarget struct {
	to  chat.UserID
	typ string
	ev  chat.Event
}

func (w *webhookNotifier) Notify(ctx context.Context, n chat.Notice) error {
	var ts []webhookTarget
	for _, p := range n.Parts {
		for _, ev := range p.Events {
			typ, ok := webhookTypes[ev.Type]
			if !ok || !w.types[typ] {
				continue
			}
			actor := ev.Msg.Author
			if ev.Type == chat.EventRead {
				actor = ev.Reader
			}
			if p.User == actor {
				continue // the one who made the change is not told of it
			}
			ts = append(ts, webhookTarget{to: p.User, typ: typ, ev: ev})
		}
	}
	if len(ts) == 0 {
		return nil
	}
	d := n.Conv.Domain
	ids := make([]chat.UserID, len(ts))
	for i, t := range ts {
		ids[i] = t.to
	}
	online, err := w.online.Online(ctx, d, ids)
	if err != nil {
		return err
	}
	ps := make([]webhook.Payload, 0, len(ts))
	for i, t := range ts {
		if w.offlineOnly && online[i] {
			continue
		}
		unread, err := w.unread.UnreadTotal(ctx, d, t.to)
		if err != nil {
			return err
		}
		msg, err := json.Marshal(w.webhookMessage(t.ev))
		if err != nil {
			return err
		}
		p := webhook.Payload{ID: webhookID(n, t.to, t.typ), Type: t.typ, Domain: string(d),
			Created: webhook.TimeOf(n.At), To: string(t.to), From: string(t.ev.Peer),
			Conversation: n.Conv.Key(), Message: msg, Unread: unread}
		if !w.offlineOnly {
			p.Online = &online[i]
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil
	}
	return w.queue.Enqueue(ctx, ps...)
}

// WantsSend answers chat.SendFilter: a send can lead to a webhook only
// when message.new webhooks are on and, offline-only, its recipient has no
// live connection now (one presence read; when it has, the one-script send
// runs to done without stopping for the notifier).
func (w *webhookNotifier) WantsSend(ctx context.Context, d chat.Domain, _, to chat.UserID) (bool, error) {
	if !w.types["message.new"] {
		return false, nil
	}
	if !w.offlineOnly {
		return true, nil
	}
	online, err := w.online.Online(ctx, d, []chat.UserID{to})
	if err != nil {
		return true, err
	}
	return !online[0], nil
}

// webhookMessage is a webhook's message: as REST renders it; for a read
// receipt, the last message read ({"id": ...}).
func (w *webhookNotifier) webhookMessage(ev chat.Event) any {
	if ev.Type == chat.EventRead {
		return map[string]string{"id": ev.UpTo}
	}
	return w.render.message(ev.Msg)
}

// webhookID names the webhook of op n.Op of n.Conv to user to: the same
// on every retry and every re-run of the op, unique otherwise.
func webhookID(n chat.Notice, to chat.UserID, typ string) string {
	h := sha256.New()
	for _, p := range []string{string(n.Conv.Domain), n.Conv.Key(), strconv.FormatInt(n.Op, 10), string(to), typ} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "wh_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// webhookCollector exports the webhook queue's Stats (zeros while
// webhooks are off), read at scrape time.
type webhookCollector struct {
	queue                                               *atomic.Pointer[webhook.Queue]
	queued, delivered, retried, dead, replayed, request *prometheus.Desc
	latency                                             *prometheus.Desc
}

func newWebhookCollector(q *atomic.Pointer[webhook.Queue]) *webhookCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &webhookCollector{queue: q,
		queued:    d("parley_webhooks_queued_total", "Event webhooks this node queued (a repeat of a queued id is not counted)."),
		delivered: d("parley_webhooks_delivered_total", "Event webhooks this node delivered (answered 2xx)."),
		retried:   d("parley_webhooks_retried_total", "Webhook attempts that failed (429, 5xx, timeout, connection error) and were scheduled again."),
		dead:      d("parley_webhooks_dead_total", "Webhooks this node dead-lettered: another 4xx, or still failing after PARLEY_WEBHOOK_MAX_AGE."),
		replayed:  d("parley_webhooks_replayed_total", "Dead-lettered webhooks queued again (parley webhooks replay)."),
		request:   d("parley_webhooks_requests_total", "Webhook requests this node sent (every attempt)."),
		latency:   d("parley_webhook_delivery_seconds", "Time from a webhook's first queueing to its 2xx."),
	}
}

func (c *webhookCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queued, c.delivered, c.retried, c.dead, c.replayed, c.request, c.latency} {
		ch <- d
	}
}

func (c *webhookCollector) Collect(ch chan<- prometheus.Metric) {
	var s webhook.Stats
	if q := c.queue.Load(); q != nil {
		s = q.Stats()
	}
	for d, v := range map[*prometheus.Desc]int64{c.queued: s.Queued, c.delivered: s.Delivered, c.retried: s.Retried,
		c.dead: s.Dead, c.replayed: s.Replayed, c.request: s.Requests} {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	buckets := make(map[float64]uint64, len(s.Latency.Buckets))
	for i, b := range s.Latency.Buckets {
		buckets[b.Seconds()] = uint64(s.Latency.Counts[i])
	}
	ch <- prometheus.MustNewConstHistogram(c.latency, uint64(s.Latency.Count), s.Latency.Sum.Seconds(), buckets)
}

// setOf is a set of names.
func setOf(names []string) map[string]bool {
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out
}
