package config

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// maxWaitReplicas bounds PARLEY_REDIS_WAIT_REPLICAS.
const maxWaitReplicas = 16

// validateRedis checks the Redis mode variables: at most one mode, the
// Sentinel master name, every address host:port, the WAIT bounds.
func (c Config) validateRedis(bad func(key, format string, args ...any)) {
	cluster, sentinel := len(c.RedisClusterAddrs) > 0, len(c.RedisSentinelAddrs) > 0
	if cluster && sentinel {
		bad("REDIS_CLUSTER_ADDRS", "must not be set together with %sREDIS_SENTINEL_ADDRS: choose cluster or Sentinel mode", Prefix)
	}
	if c.RedisURL != "" && cluster {
		bad("REDIS_URL", "must not be set together with %sREDIS_CLUSTER_ADDRS: in cluster mode the addresses name the nodes (user, password and TLS go in %sREDIS_USERNAME, %sREDIS_PASSWORD, %sREDIS_TLS)", Prefix, Prefix, Prefix, Prefix)
	}
	if c.RedisURL != "" && sentinel {
		bad("REDIS_URL", "must not be set together with %sREDIS_SENTINEL_ADDRS: in Sentinel mode the Sentinels name the primary (user, password and TLS go in %sREDIS_USERNAME, %sREDIS_PASSWORD, %sREDIS_TLS)", Prefix, Prefix, Prefix, Prefix)
	}
	if sentinel && c.RedisSentinelMaster == "" {
		bad("REDIS_SENTINEL_MASTER", "must name the monitored primary when %sREDIS_SENTINEL_ADDRS is set", Prefix)
	}
	if !sentinel && c.RedisSentinelMaster != "" {
		bad("REDIS_SENTINEL_MASTER", "is set but %sREDIS_SENTINEL_ADDRS is empty", Prefix)
	}
	for _, a := range c.RedisClusterAddrs {
		if err := checkHostPort(a); err != nil {
			bad("REDIS_CLUSTER_ADDRS", "%q: %v", a, err)
		}
	}
	for _, a := range c.RedisSentinelAddrs {
		if err := checkHostPort(a); err != nil {
			bad("REDIS_SENTINEL_ADDRS", "%q: %v", a, err)
		}
	}
	if c.RedisWaitReplicas < 0 || c.RedisWaitReplicas > maxWaitReplicas {
		bad("REDIS_WAIT_REPLICAS", "must be between 0 and %d, got %d", maxWaitReplicas, c.RedisWaitReplicas)
	}
	if c.RedisWaitTimeout < 10*time.Millisecond || c.RedisWaitTimeout > 10*time.Second {
		bad("REDIS_WAIT_TIMEOUT", "must be between 10ms and 10s, got %s", c.RedisWaitTimeout)
	}
	if c.RedisWaitReplicas > 0 && c.Embedded() {
		bad("REDIS_WAIT_REPLICAS", "needs a Redis with replicas; the embedded store has none")
	}
}

// checkHostPort requires host:port with a non-empty host and a port 1-65535.
func checkHostPort(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("not host:port (%v)", err)
	}
	if host == "" {
		return fmt.Errorf("not host:port: the host is empty")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("not host:port: the port must be 1-65535, got %q", port)
	}
	return nil
}
