package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"

	"parley/config"
)

// adoptStartupLogging sends go-redis's own log lines into log and warns
// about PARLEY_* variables Parley does not read (environ nil: the process
// environment).
func adoptStartupLogging(log *slog.Logger, environ map[string]string) {
	redis.SetLogger(redisLog{log})
	for _, u := range config.UnknownVariables(environ) {
		log.Warn(u.String(), "variable", u.Name, "closest", u.Closest)
	}
}

// redisLog is go-redis's logger over slog. go-redis logs through a
// package-level logger of its own (by default raw "redis: ... pool.go:NNN"
// lines on stderr), mostly its pool failing to dial; the requests that
// needed the connection fail and are logged and counted where they fail.
type redisLog struct{ log *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	r.log.WarnContext(ctx, "redis client", "detail", strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: "))
}
