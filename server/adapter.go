package server

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	sioadapter "github.com/zishang520/socket.io-go-redis/adapter"
	siotypes "github.com/zishang520/socket.io-go-redis/types"
	"github.com/zishang520/socket.io/v2/socket"
)

// adapterBuilder is the Socket.IO adapter that fans events out to every
// node: sharded pub/sub (SSUBSCRIBE, Redis 7) where the store has it,
// classic pub/sub where it does not (the embedded store, Redis 6).
func (o realtimeOptions) adapterBuilder() socket.AdapterConstructor {
	client := siotypes.NewRedisClient(context.Background(), o.rdb)
	if o.classicPubSub {
		ao := sioadapter.DefaultRedisAdapterOptions()
		ao.SetKey(o.channelPrefix)
		return &sioadapter.RedisAdapterBuilder{Redis: client, Opts: ao}
	}
	ao := sioadapter.DefaultShardedRedisAdapterOptions()
	ao.SetChannelPrefix(o.channelPrefix)
	return &sioadapter.ShardedRedisAdapterBuilder{Redis: client, Opts: ao}
}

// hasShardedPubSub reports whether rdb knows sharded pub/sub: Redis 7
// answers PUBSUB SHARDNUMSUB; the embedded store and Redis 6 call it an
// unknown subcommand. Any other error (Redis down) assumes Redis 7.
func hasShardedPubSub(rdb redis.UniversalClient) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := rdb.Do(ctx, "PUBSUB", "SHARDNUMSUB").Err()
	return err == nil || !strings.Contains(strings.ToLower(err.Error()), "unknown")
}
