package config_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"parley/config"
)

func TestRedisModes(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		mode     config.RedisMode
		embedded bool
	}{
		{"embedded", map[string]string{}, config.RedisEmbedded, true},
		{"single", map[string]string{"PARLEY_REDIS_URL": "redis://127.0.0.1:6379/0"}, config.RedisSingle, false},
		{"cluster", map[string]string{"PARLEY_REDIS_CLUSTER_ADDRS": " 10.0.0.1:7000, 10.0.0.2:7000 ,"}, config.RedisCluster, false},
		{"sentinel", map[string]string{"PARLEY_REDIS_SENTINEL_ADDRS": "s1:26379,s2:26379,[::1]:26379",
			"PARLEY_REDIS_SENTINEL_MASTER": " mymaster "}, config.RedisSentinel, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["PARLEY_JWT_SECRET"] = "0123456789abcdef0123"
			c, err := config.Load(tt.env)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := c.RedisMode(); got != tt.mode {
				t.Errorf("RedisMode() = %q, want %q", got, tt.mode)
			}
			if got := c.Embedded(); got != tt.embedded {
				t.Errorf("Embedded() = %v, want %v", got, tt.embedded)
			}
			// A production mode listens on every interface by default.
			if !tt.embedded && c.HTTPAddr != ":8080" {
				t.Errorf("HTTPAddr = %q, want :8080", c.HTTPAddr)
			}
		})
	}
	c, err := config.Load(map[string]string{"PARLEY_REDIS_CLUSTER_ADDRS": " 10.0.0.1:7000, 10.0.0.2:7000 ,",
		"PARLEY_REDIS_USERNAME": "parley", "PARLEY_REDIS_PASSWORD": "pw", "PARLEY_REDIS_TLS": "true",
		"PARLEY_REDIS_WAIT_REPLICAS": "1", "PARLEY_REDIS_WAIT_TIMEOUT": "250ms"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.1:7000", "10.0.0.2:7000"}; !slices.Equal(c.RedisClusterAddrs, want) {
		t.Errorf("RedisClusterAddrs = %q, want %q", c.RedisClusterAddrs, want)
	}
	if c.RedisUsername != "parley" || c.RedisPassword != "pw" || !c.RedisTLS || c.RedisWaitReplicas != 1 || c.RedisWaitTimeout != 250*time.Millisecond {
		t.Errorf("credentials/TLS/WAIT not read: %+v", c)
	}
}

func TestRedisInvalid(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string // substrings of the error
	}{
		{"cluster and sentinel", map[string]string{"PARLEY_REDIS_CLUSTER_ADDRS": "a:1", "PARLEY_REDIS_SENTINEL_ADDRS": "b:2", "PARLEY_REDIS_SENTINEL_MASTER": "m"},
			[]string{"PARLEY_REDIS_CLUSTER_ADDRS: must not be set together with PARLEY_REDIS_SENTINEL_ADDRS"}},
		{"url and cluster", map[string]string{"PARLEY_REDIS_CLUSTER_ADDRS": "a:1", "PARLEY_REDIS_URL": "redis://x:6379"},
			[]string{"PARLEY_REDIS_URL: must not be set together with PARLEY_REDIS_CLUSTER_ADDRS"}},
		{"url and sentinel", map[string]string{"PARLEY_REDIS_SENTINEL_ADDRS": "a:1", "PARLEY_REDIS_SENTINEL_MASTER": "m", "PARLEY_REDIS_URL": "redis://x:6379"},
			[]string{"PARLEY_REDIS_URL: must not be set together with PARLEY_REDIS_SENTINEL_ADDRS"}},
		{"sentinel without master", map[string]string{"PARLEY_REDIS_SENTINEL_ADDRS": "a:26379"},
			[]string{"PARLEY_REDIS_SENTINEL_MASTER: must name the monitored primary"}},
		{"master without sentinel", map[string]string{"PARLEY_REDIS_URL": "redis://x:6379", "PARLEY_REDIS_SENTINEL_MASTER": "m"},
			[]string{"PARLEY_REDIS_SENTINEL_MASTER: is set but PARLEY_REDIS_SENTINEL_ADDRS is empty"}},
		{"no port", map[string]string{"PARLEY_REDIS_CLUSTER_ADDRS": "10.0.0.1:7000,10.0.0.2"},
			[]string{`PARLEY_REDIS_CLUSTER_ADDRS: "10.0.0.2": not host:port`}},
		{"bad port", map[string]string{"PARLEY_REDIS_CLUSTER_ADDRS": "10.0.0.1:70000"},
			[]string{`PARLEY_REDIS_CLUSTER_ADDRS: "10.0.0.1:70000": not host:port: the port must be 1-65535`}},
		{"empty host", map[string]string{"PARLEY_REDIS_SENTINEL_ADDRS": ":26379", "PARLEY_REDIS_SENTINEL_MASTER": "m"},
			[]string{`PARLEY_REDIS_SENTINEL_ADDRS: ":26379": not host:port: the host is empty`}},
		{"wait replicas range", map[string]string{"PARLEY_REDIS_URL": "redis://x:6379", "PARLEY_REDIS_WAIT_REPLICAS": "17"},
			[]string{"PARLEY_REDIS_WAIT_REPLICAS: must be between 0 and 16, got 17"}},
		{"wait timeout range", map[string]string{"PARLEY_REDIS_URL": "redis://x:6379", "PARLEY_REDIS_WAIT_TIMEOUT": "1ms"},
			[]string{"PARLEY_REDIS_WAIT_TIMEOUT: must be between 10ms and 10s, got 1ms"}},
		{"wait on embedded", map[string]string{"PARLEY_REDIS_WAIT_REPLICAS": "1"},
			[]string{"PARLEY_REDIS_WAIT_REPLICAS: needs a Redis with replicas"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["PARLEY_JWT_SECRET"] = "0123456789abcdef0123"
			_, err := config.Load(tt.env)
			if err == nil {
				t.Fatal("Load accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
