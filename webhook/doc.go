// Package webhook tells the platform what happens in Parley: signed,
// durable event webhooks (message.new for offline recipients, edits,
// deletes, read receipts) and the synchronous before-send hook. Every
// request Parley makes to the platform is signed the same way (Sign).
//
// # Event webhooks
//
// A [Queue] delivers [Payload]s to one URL at least once. The caller
// builds each payload, with an id that stays the same however often it
// is queued, and calls [Queue.Enqueue]; every node runs [Queue.Run],
// which delivers, retries and dead-letters until its context ends.
//
//	q := webhook.New(rdb, keys, webhook.Options{URL: u, Secret: s, Logger: log})
//	go q.Run(ctx)
//	err := q.Enqueue(ctx, webhook.Payload{ID: id, Type: "message.new", ...})
//	dead, err := q.Dead(ctx, 100) // what was given up on, newest first
//	n, err := q.Replay(ctx)       // queue them all again
//	s := q.Stats()                // counters and the latency histogram
//
// The queue lives in Redis, in Options.Shards shards; a webhook's shard
// is a hash of its domain and recipient. A shard is four keys under one
// Redis Cluster hash tag (chat.Keys.WebhookQueue, WebhookRetry,
// WebhookDead, WebhookIDs): a stream read through one consumer group by
// one consumer per node, a sorted set of delayed retries, a capped stream
// of dead letters, and the sorted set of queued ids that makes Enqueue
// idempotent for Options.MaxAge. Every move between them (enqueue, retry,
// dead-letter, replay) is one Lua script in the shard's slot, so an entry
// is always in exactly one of them. Every node, and `parley webhooks`,
// must use the same Shards. Nothing grows without bound: the queue and
// retry set hold webhooks younger than MaxAge (older ones are
// dead-lettered when next looked at), the dedupe set is trimmed to MaxAge
// on every Enqueue, the dead stream is capped at about Options.DeadMax per
// shard, and consumers of stopped nodes that hold nothing are forgotten.
//
// Each attempt is a POST of the payload's JSON with the headers
// Content-Type: application/json, X-Parley-Event-Id (the payload id, the
// same on every attempt: receivers drop repeats by it) and
// X-Parley-Signature (Sign, at send time). A 2xx answer settles it. A 429,
// a 5xx, a timeout (Options.Timeout) or a connection error is retried
// after an exponential backoff with jitter (Options.RetryBase doubling up
// to Options.RetryMax, at least the Retry-After seconds when the receiver
// sends them), for at most Options.MaxAge since it was first queued; any
// other answer, or reaching that age, dead-letters it. After a few
// consecutive failures a circuit pauses delivery for a growing interval
// and then lets one probe through, so a failing receiver is not
// hammered. An entry held by a node that died is reclaimed by another
// (XAUTOCLAIM) once idle for Options.ReclaimIdle, so it can arrive twice:
// delivery is at least once, and the event id is what dedupes. A Redis
// error never drops an entry: the loop logs it and tries again after a
// short backoff, and an outcome that cannot be recorded leaves the entry
// pending, to be reclaimed and sent again.
//
// [Queue.Stats] counts, per node, what was queued, delivered, retried,
// dead-lettered and replayed, and holds a cumulative histogram of the
// time from first queued to delivered, ready to export to Prometheus.
package webhook
