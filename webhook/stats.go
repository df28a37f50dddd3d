package webhook

import (
	"sync/atomic"
	"time"
)

// latencyBuckets are the upper bounds of the delivery latency histogram
// (first queued to the 2xx answer), in the style of Prometheus buckets.
var latencyBuckets = [...]time.Duration{
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
	30 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
}

// Stats are a Queue's counters since New, on this node.
type Stats struct {
	Queued    int64 // webhooks Enqueue added (not skipped as repeats)
	Delivered int64 // webhooks answered with a 2xx
	Retried   int64 // attempts that failed and were scheduled again
	Dead      int64 // webhooks dead-lettered
	Replayed  int64 // dead webhooks queued again by Replay
	Requests  int64 // requests sent (every attempt)

	// Latency is the time from first queued to delivered: Buckets[i] is
	// an upper bound, Counts[i] how many deliveries took at most that
	// long (cumulative, as a Prometheus histogram's le buckets); Count and
	// Sum cover every delivery (the +Inf bucket).
	Latency Histogram
}

// Histogram is a cumulative latency histogram.
type Histogram struct {
	Buckets []time.Duration
	Counts  []int64
	Count   int64
	Sum     time.Duration
}

// stats is the atomic state behind Stats.
type stats struct {
	queued, delivered, retried, dead, replayed, requests atomic.Int64
	buckets                                              [len(latencyBuckets)]atomic.Int64 // not cumulative
	count, sum                                           atomic.Int64
}

// observe records one delivery that took d since first queued.
func (s *stats) observe(d time.Duration) {
	for i, b := range latencyBuckets {
		if d <= b {
			s.buckets[i].Add(1)
			break
		}
	}
	s.count.Add(1)
	s.sum.Add(int64(d))
	s.delivered.Add(1)
}

// Stats returns a snapshot of the queue's counters on this node.
func (q *Queue) Stats() Stats {
	s := &q.stats
	h := Histogram{Buckets: latencyBuckets[:], Counts: make([]int64, len(latencyBuckets)),
		Count: s.count.Load(), Sum: time.Duration(s.sum.Load())}
	var acc int64
	for i := range latencyBuckets {
		acc += s.buckets[i].Load()
		h.Counts[i] = acc
	}
	return Stats{Queued: s.queued.Load(), Delivered: s.delivered.Load(), Retried: s.retried.Load(),
		Dead: s.dead.Load(), Replayed: s.replayed.Load(), Requests: s.requests.Load(), Latency: h}
}
