package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/auth"
	"parley/chat"
	"parley/config"
	"parley/server"
)

// env is one scenario's slice of the shared Redis: a unique key prefix
// (deleted afterwards) and a JWT secret.
type env struct {
	redisURL string
	// clusterAddrs are Redis Cluster seeds (PARLEY_REDIS_CLUSTER_ADDRS);
	// empty = the single Redis of redisURL.
	clusterAddrs []string
	prefix       string
	secret       string
	domain       string
	rdb          *redis.Client // for seeding, baselines and cleanup
	// primaries are the cluster's primaries (empty: rdb is the one Redis),
	// whose CPU and pub/sub channels P2c sums.
	primaries []string
	// byNode are clients of primaries, opened by pubsubNodes.
	byNode []*redis.Client
	// extra are node variables of the scenario (set last).
	extra map[string]string
}

func newEnv(ctx context.Context, redisURL, name string) (*env, error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	s := make([]byte, 32)
	_, _ = rand.Read(s)
	e := &env{redisURL: redisURL, prefix: "bench:" + name + ":" + hex.EncodeToString(b) + ":",
		secret: hex.EncodeToString(s), domain: "bench"}
	rdb, err := server.OpenRedis(config.Config{RedisURL: redisURL})
	if err != nil {
		return nil, err
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis %s: %w", redisURL, err)
	}
	e.rdb = rdb.(*redis.Client) // a URL opens a single-node client
	return e, nil
}

// vars is the node configuration of this env.
func (e *env) vars() map[string]string {
	v := map[string]string{
		"PARLEY_REDIS_URL":      e.redisURL,
		"PARLEY_KEY_PREFIX":     e.prefix,
		"PARLEY_JWT_SECRET":     e.secret,
		"PARLEY_DEFAULT_DOMAIN": e.domain,
		"PARLEY_LOG_LEVEL":      "error",
		"PARLEY_HTTP_ADDR":      "127.0.0.1:0",
		// Off, so P1's baseline (chat.Store.Send without a limit) runs the
		// identical script, and P2's 2 000/s stay unthrottled.
		"PARLEY_SEND_RATE":  "0",
		"PARLEY_WRITE_RATE": "0",
	}
	if len(e.clusterAddrs) > 0 { // cluster mode excludes PARLEY_REDIS_URL
		delete(v, "PARLEY_REDIS_URL")
		v["PARLEY_REDIS_CLUSTER_ADDRS"] = strings.Join(e.clusterAddrs, ",")
	}
	for k, x := range e.extra {
		v[k] = x
	}
	return v
}

func (e *env) config() (config.Config, error) { return config.Load(e.vars()) }

// keys is the keyspace the env's nodes write.
func (e *env) keys() chat.Keys { return chat.Keys{Prefix: e.prefix} }

// token mints a token for user valid for two hours.
func (e *env) token(user int) string {
	t, err := auth.SignHS256([]byte(e.secret), map[string]any{"user_id": user, "exp": time.Now().Add(2 * time.Hour).Unix()})
	if err != nil {
		panic(err) // cannot fail with a non-empty secret
	}
	return t
}

func (e *env) tokens(n int) []string {
	out := make([]string, n+1) // 1-based: user i has out[i]
	for i := 1; i <= n; i++ {
		out[i] = e.token(i)
	}
	return out
}

// close deletes every key under the prefix and closes the client.
func (e *env) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var n int
	iter := e.rdb.Scan(ctx, 0, e.prefix+"*", 5000).Iterator()
	batch := make([]string, 0, 1000)
	flush := func() {
		if len(batch) > 0 {
			n += len(batch)
			_ = e.rdb.Unlink(ctx, batch...).Err()
			batch = batch[:0]
		}
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()
	logf("cleanup: deleted %d keys under %s", n, e.prefix)
	_ = e.rdb.Close()
}

// node is one in-process Parley (server.New) on a 127.0.0.1 listener.
type node struct {
	url string
	srv *server.Server
	hs  *http.Server
	rdb redis.UniversalClient
}

func (e *env) startNode() (*node, error) {
	cfg, err := e.config()
	if err != nil {
		return nil, err
	}
	rdb, err := server.OpenRedis(cfg)
	if err != nil {
		return nil, err
	}
	return startNodeOn(cfg, rdb)
}

// startNodeOn starts a node of cfg on rdb, which it closes when it stops.
func startNodeOn(cfg config.Config, rdb redis.UniversalClient) (*node, error) {
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), rdb)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return &node{url: "http://" + ln.Addr().String(), srv: srv, hs: hs, rdb: rdb}, nil
}

func (n *node) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.srv.Close()
	_ = n.hs.Shutdown(ctx)
	_ = n.hs.Close()
	_ = n.rdb.Close()
}

func uid(i int) chat.UserID { return chat.UserID(strconv.Itoa(i)) }

// pubsubNodes are the clients to ask for pub/sub channels: every primary of
// a cluster (sharded channels live on the shard of their slot), or rdb.
func (e *env) pubsubNodes() []*redis.Client {
	if len(e.primaries) == 0 {
		return []*redis.Client{e.rdb}
	}
	if e.byNode == nil {
		for _, a := range e.primaries {
			e.byNode = append(e.byNode, redis.NewClient(&redis.Options{Addr: a}))
		}
	}
	return e.byNode
}
