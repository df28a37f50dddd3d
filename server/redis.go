package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	neturl "net/url"
	"runtime"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
	"parley/config"
	"parley/webhook"
)

// Fast-fail options of every Redis connection, in every mode: a dead or
// unreachable Redis turns into a 503 at once, never a hung request.
const (
	redisDialTimeout = 500 * time.Millisecond
	redisRWTimeout   = time.Second
	redisPoolTimeout = time.Second
	redisMaxRetries  = 1
	// RESP2: with RESP3 go-redis peeks the socket for push notifications
	// before every command, one more read syscall per command; Parley uses
	// none (pub/sub runs on its own connections). bench/load P1.
	redisProtocol = 2
)

// redisPoolSize is go-redis's default pool (10 per CPU) plus, with event
// webhooks on, one connection for each queue shard, whose reader blocks on
// one (XREADGROUP BLOCK), and one for each request in flight (its
// acknowledgement), so delivery never makes a send wait for a connection;
// a pool grows only as needed.
func redisPoolSize(cfg config.Config) int {
	n := 10 * runtime.GOMAXPROCS(0)
	if cfg.WebhookURL != "" {
		n += webhook.DefaultShards + cfg.WebhookConcurrency
	}
	return n
}

// OpenRedis opens the Redis client cfg's mode asks for: a ClusterClient
// (PARLEY_REDIS_CLUSTER_ADDRS), a Sentinel failover client
// (PARLEY_REDIS_SENTINEL_ADDRS) or a single-node client (PARLEY_REDIS_URL;
// the caller puts the embedded store's URL there). PARLEY_REDIS_USERNAME,
// PARLEY_REDIS_PASSWORD and PARLEY_REDIS_TLS apply to all three; the
// timeouts are short in all three (see the constants above).
func OpenRedis(cfg config.Config) (redis.UniversalClient, error) {
	var tlsConf *tls.Config
	if cfg.RedisTLS {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	switch cfg.RedisMode() {
	case config.RedisCluster:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: cfg.RedisClusterAddrs, Username: cfg.RedisUsername, Password: cfg.RedisPassword, TLSConfig: tlsConf,
			DialTimeout: redisDialTimeout, ReadTimeout: redisRWTimeout, WriteTimeout: redisRWTimeout,
			PoolTimeout: redisPoolTimeout, MaxRetries: redisMaxRetries, DialerRetries: 1, PoolSize: redisPoolSize(cfg),
			ContextTimeoutEnabled: true, Protocol: redisProtocol,
			// Learn a failover or a slot move quickly: MOVED/ASK and
			// connection errors reload the slot map anyway.
			MaxRedirects: 3,
		}), nil
	case config.RedisSentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: cfg.RedisSentinelMaster, SentinelAddrs: cfg.RedisSentinelAddrs,
			SentinelPassword: cfg.RedisSentinelPassword,
			Username:         cfg.RedisUsername, Password: cfg.RedisPassword, TLSConfig: tlsConf,
			DialTimeout: redisDialTimeout, ReadTimeout: redisRWTimeout, WriteTimeout: redisRWTimeout,
			PoolTimeout: redisPoolTimeout, MaxRetries: redisMaxRetries, DialerRetries: 1, PoolSize: redisPoolSize(cfg),
			ContextTimeoutEnabled: true, Protocol: redisProtocol,
		}), nil
	case config.RedisEmbedded:
		return nil, errors.New("OpenRedis: no Redis configured (PARLEY_REDIS_URL, PARLEY_REDIS_CLUSTER_ADDRS or PARLEY_REDIS_SENTINEL_ADDRS); start the embedded store and put its URL in RedisURL")
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		// A *url.Error quotes the whole URL, password included: keep the cause.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("PARLEY_REDIS_URL: %w", err)
	}
	if opt.Username == "" {
		opt.Username = cfg.RedisUsername
	}
	if opt.Password == "" {
		opt.Password = cfg.RedisPassword
	}
	if tlsConf != nil && opt.TLSConfig == nil {
		tlsConf.ServerName, _, _ = strings.Cut(opt.Addr, ":")
		opt.TLSConfig = tlsConf
	}
	opt.DialTimeout = redisDialTimeout
	opt.ReadTimeout = redisRWTimeout
	opt.WriteTimeout = redisRWTimeout
	opt.PoolTimeout = redisPoolTimeout
	opt.PoolSize = redisPoolSize(cfg)
	opt.MaxRetries = redisMaxRetries
	opt.DialerRetries = 1 // one dial, no backoff loop: a dead Redis is a 503 at once
	opt.ContextTimeoutEnabled = true
	opt.Protocol = redisProtocol
	return redis.NewClient(opt), nil
}

// shardedPubSub reports whether rdb's events go out with sharded pub/sub
// (chat.Keys.Sharded): always on a Redis Cluster; elsewhere when the
// server knows SPUBLISH (Redis >= 7; the embedded store does not). It asks
// once, at start-up: SPUBLISH of a channel no one listens to changes
// nothing. An unreachable Redis counts as Redis >= 7 (production runs
// Redis 7; the embedded store always answers).
func shardedPubSub(ctx context.Context, rdb redis.UniversalClient, probe string) bool {
	if _, ok := rdb.(*redis.ClusterClient); ok {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := rdb.SPublish(ctx, probe, "").Err()
	if err == nil {
		return true
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		return false // the server refused the command: no sharded pub/sub
	}
	return true
}

// redisPinger is readiness: Redis answers and accepts writes; on a Redis
// Cluster, every primary also sees the cluster ok with every slot served.
type redisPinger struct {
	rdb   redis.UniversalClient
	probe string // a key no one writes
}

// Ping asks for a write that changes nothing, SET with XX of a key that
// does not exist, in one round trip: a Redis that refuses writes (out of
// memory under noeviction, a replica, loading, busy) answers it with that
// refusal where PING would succeed, and a writable one with nil. On a
// cluster it then asks every primary for CLUSTER INFO.
func (p redisPinger) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := p.rdb.SetArgs(ctx, p.probe, "1", redis.SetArgs{Mode: "XX", TTL: time.Second}).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	if cc, ok := p.rdb.(*redis.ClusterClient); ok {
		return clusterReady(ctx, cc)
	}
	return nil
}

// clusterReady asks every primary for CLUSTER INFO: each must say
// cluster_state:ok and cluster_slots_ok:16384. A refusal is an Unavailable
// error naming the node and what it said.
func clusterReady(ctx context.Context, cc *redis.ClusterClient) error {
	return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		info, err := node.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		if why := clusterInfoProblem(info); why != "" {
			return &chat.Error{Op: "server.ready", Kind: chat.Unavailable, RetryAfter: chat.StorageRetryAfter,
				Msg: "Redis Cluster not ready: " + node.Options().Addr + " reports " + why}
		}
		return nil
	})
}

// clusterInfoProblem reads CLUSTER INFO's answer: "" when the cluster is
// ok and all 16384 slots are served, else what is wrong.
func clusterInfoProblem(info string) string {
	var state, slotsOK string
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch k {
		case "cluster_state":
			state = v
		case "cluster_slots_ok":
			slotsOK = v
		}
	}
	if state != "ok" {
		return "cluster_state:" + state
	}
	if slotsOK != "16384" {
		return "cluster_slots_ok:" + slotsOK + " (want 16384)"
	}
	return ""
}
