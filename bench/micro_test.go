package bench_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"parley/auth"
	"parley/chat"
	"parley/internal/testutil"
)

// baselines holds this run's baseline timings.
var baselines testutil.Baselines

func keepBaseline(b *testing.B, name string) { baselines.Keep(b, name) }

func reportRatio(b *testing.B, name string) { baselines.Report(b, name) }

// BenchmarkJWTVerify compares auth.Verifier.Verify of an HS256 token, in
// full and from the verifier's cache, with the bare HMAC-SHA256 of the
// same signing input (the cryptographic floor).
func BenchmarkJWTVerify(b *testing.B) {
	secret := []byte("bench-secret-0123456789abcdef")
	tok, err := auth.SignHS256(secret, map[string]any{"user_id": 42, "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		b.Fatal(err)
	}
	input := []byte(tok[:strings.LastIndexByte(tok, '.')])
	b.Run("baseline-hmac-sha256", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := hmac.New(sha256.New, secret)
			m.Write(input)
			_ = m.Sum(nil)
		}
		keepBaseline(b, "jwt")
	})
	// Without a cache (every request verified in full), then with
	// PARLEY_JWT_CACHE_TTL's default: what a client that sends the same
	// token with every request costs after its first.
	for _, c := range []struct {
		name string
		ttl  time.Duration
	}{{"parley-verify", 0}, {"parley-verify-cached", time.Minute}} {
		v, err := auth.NewVerifier(auth.Config{Algorithms: []string{"HS256"}, Secret: secret, RequireExp: true,
			Leeway: 30 * time.Second, CacheTTL: c.ttl})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
			reportRatio(b, "jwt")
		})
	}
}

// BenchmarkSendScript compares chat.Store.Send (validation, id, JSON, and
// the send's per-slot steps: guards, conversation step, participant
// steps, done; see chat/fanout.go) on real Redis with one PING round trip
// on the same client (the network floor).
func BenchmarkSendScript(b *testing.B) {
	rdb := testutil.Redis(b)
	ctx := context.Background()
	keys := chat.Keys{Prefix: testutil.Prefix(b)}
	b.Cleanup(func() {
		iter := rdb.Scan(ctx, 0, keys.Prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Unlink(ctx, iter.Val())
		}
	})
	b.Run("baseline-ping", func(b *testing.B) {
		for b.Loop() {
			if err := rdb.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
		}
		keepBaseline(b, "send")
	})
	store := chat.NewStore(rdb, keys, chat.Limits{MaxText: 4000}, time.Now)
	req := chat.SendRequest{Domain: "bench", From: "1", To: "2", Content: chat.Content{Type: chat.TypeText, Text: "hello, benchmark"}}
	b.Run("parley-send", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := store.Send(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
		reportRatio(b, "send")
	})
}
