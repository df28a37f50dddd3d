package testutil

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestStartRedisWithPassword: a redis-server started with --requirepass
// is ours once it answers (INFO needs the password: NOAUTH is no answer
// of ownership), and starting it takes no retries.
func TestStartRedisWithPassword(t *testing.T) {
	start := time.Now()
	addr := StartRedis(t, "--requirepass", "pw-0123")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("StartRedis with --requirepass took %s", took)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, Password: "pw-0123"})
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}
