package server

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"parley/config"
	"parley/internal/embedded"
	"parley/internal/testutil"
)

func TestOpenRedisModes(t *testing.T) {
	for _, tt := range []struct {
		cfg  config.Config
		want string
	}{
		{config.Config{RedisURL: "redis://127.0.0.1:1/0"}, "*redis.Client"},
		{config.Config{RedisClusterAddrs: []string{"127.0.0.1:1"}}, "*redis.ClusterClient"},
		{config.Config{RedisSentinelAddrs: []string{"127.0.0.1:1"}, RedisSentinelMaster: "m"}, "*redis.Client"},
	} {
		rdb, err := OpenRedis(tt.cfg)
		if err != nil {
			t.Fatalf("OpenRedis(%+v): %v", tt.cfg, err)
		}
		var got string
		switch c := rdb.(type) {
		case *redis.ClusterClient:
			got = "*redis.ClusterClient"
			if o := c.Options(); o.DialTimeout != redisDialTimeout || o.MaxRetries != 1 || o.Protocol != 2 || !o.ContextTimeoutEnabled {
				t.Errorf("cluster options not fast-fail: %+v", o)
			}
		case *redis.Client:
			got = "*redis.Client"
			if o := c.Options(); o.DialTimeout != redisDialTimeout || o.MaxRetries != 1 || o.DialerRetries != 1 || o.Protocol != 2 || !o.ContextTimeoutEnabled {
				t.Errorf("options not fast-fail: %+v", o)
			}
		}
		if got != tt.want {
			t.Errorf("OpenRedis(%+v) = %s, want %s", tt.cfg, got, tt.want)
		}
		_ = rdb.Close()
	}
	if _, err := OpenRedis(config.Config{}); err == nil {
		t.Error("OpenRedis with no Redis configured succeeded")
	}
	rdb, err := OpenRedis(config.Config{RedisURL: "redis://127.0.0.1:1/0", RedisUsername: "u", RedisPassword: "p", RedisTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if o := rdb.(*redis.Client).Options(); o.Username != "u" || o.Password != "p" || o.TLSConfig == nil {
		t.Errorf("username/password/TLS not applied: %q %q %v", o.Username, o.Password, o.TLSConfig)
	}
}

// Sharded pub/sub is probed: the embedded store has none, Redis 7 has it.
func TestShardedPubSubProbe(t *testing.T) {
	store, err := embedded.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	emb, _ := OpenRedis(config.Config{RedisURL: store.URL()})
	defer emb.Close()
	if shardedPubSub(context.Background(), emb, "probe") {
		t.Error("shardedPubSub = true on the embedded store")
	}
	if testutil.OnEmbedded() {
		return // no Redis 7 in this pass
	}
	r7, _ := OpenRedis(config.Config{RedisURL: testutil.RedisURL(t)})
	defer r7.Close()
	if !shardedPubSub(context.Background(), r7, "probe") {
		t.Error("shardedPubSub = false on Redis >= 7")
	}
}

func TestClusterInfoProblem(t *testing.T) {
	for info, want := range map[string]string{
		"cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\n": "",
		"cluster_state:fail\r\ncluster_slots_ok:16383\r\n":                               "cluster_state:fail",
		"cluster_state:ok\r\ncluster_slots_ok:16000\r\n":                                 "cluster_slots_ok:16000 (want 16384)",
	} {
		if got := clusterInfoProblem(info); got != want {
			t.Errorf("clusterInfoProblem(%q) = %q, want %q", info, got, want)
		}
	}
}
