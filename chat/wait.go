package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ReplicasError is the failure of a step whose write the primary applied
// but fewer than Want replicas acknowledged within the timeout. The write
// stands (it may even survive on a replica); every step is idempotent, so
// a retry (a send with the same client_id) completes it without doubling
// it. StoreError maps it to Unavailable.
type ReplicasError struct {
	Acked, Want int64
}

func (e *ReplicasError) Error() string {
	return fmt.Sprintf("WAIT: %d of %d replicas acknowledged the write in time", e.Acked, e.Want)
}

// run runs one write step's script (EVALSHA, loading it on NOSCRIPT) and,
// with Limits.WaitReplicas > 0, then WAITs on the same connection of the
// primary that ran it: WAIT counts the replicas that have this
// connection's writes, so it must follow the script on that connection.
// Every step of every write goes through here (runCalls and the
// conversation steps).
func (s *Store) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	if s.limits.WaitReplicas <= 0 {
		return script.Run(ctx, s.rdb, keys, args...)
	}
	cmd, err := s.runWait(ctx, script, keys, args)
	if err != nil {
		cmd = redis.NewCmd(ctx)
		cmd.SetErr(err)
	}
	return cmd
}

func (s *Store) runWait(ctx context.Context, script *redis.Script, keys []string, args []any) (*redis.Cmd, error) {
	for attempt := 0; ; attempt++ {
		node := s.primaryOf(ctx, keys)
		if node == nil {
			return nil, errors.New("WAIT: no primary for the step's slot")
		}
		conn := node.Conn()
		cmd := script.Run(ctx, conn, keys, args...)
		if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
			_ = conn.Close()
			// A slot that moved (failover, resharding): the script ran
			// nowhere; learn the new owner and run it there once.
			if cc, ok := s.rdb.(*redis.ClusterClient); ok && attempt == 0 && movedError(err) {
				cc.ReloadState(ctx)
				continue
			}
			if movedError(err) {
				return nil, fmt.Errorf("slot moving: %w", err) // a plain error: Unavailable
			}
			return cmd, nil
		}
		acked, err := conn.Wait(ctx, s.limits.WaitReplicas, s.limits.WaitTimeout).Result()
		_ = conn.Close()
		if err != nil {
			return nil, err
		}
		if acked < int64(s.limits.WaitReplicas) {
			return nil, &ReplicasError{Acked: acked, Want: int64(s.limits.WaitReplicas)}
		}
		return cmd, nil
	}
}

// primaryOf is the client of the primary that runs a step on keys (all of
// one slot): the slot's primary on a cluster, else the one client.
func (s *Store) primaryOf(ctx context.Context, keys []string) *redis.Client {
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		if len(keys) == 0 {
			return nil
		}
		node, err := c.MasterForKey(ctx, keys[0])
		if err != nil {
			return nil
		}
		return node
	case *redis.Client:
		return c
	}
	return nil
}

// movedError reports a cluster redirection: the slot is served elsewhere.
func movedError(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	msg := rerr.Error()
	return strings.HasPrefix(msg, "MOVED ") || strings.HasPrefix(msg, "ASK ")
}
