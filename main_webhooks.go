package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"parley/chat"
	"parley/webhook"
)

const webhooksUsage = `Usage: parley webhooks dead [-n N]
       parley webhooks replay [ID ...]

Looks after the event-webhook queue in the Redis of PARLEY_REDIS_URL (or the cluster or
Sentinel variables), under PARLEY_KEY_PREFIX.

  dead     prints the dead-lettered webhooks, the most recently dead first, one JSON
           object a line: id, type, to, error, attempts, first_queued, died.
  replay   queues dead-lettered webhooks again, as if first queued now (a fresh
           PARLEY_WEBHOOK_MAX_AGE): those with the given ids, or all of them. The
           running nodes deliver them. Replaying twice queues each once.

Exit status: 0 done, 1 a Redis error, 2 bad usage.
`

// runWebhooks is `parley webhooks`: see webhooksUsage.
func runWebhooks(args []string, environ map[string]string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "dead" && args[0] != "replay") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stderr, webhooksUsage)
			return nil
		}
		fmt.Fprint(stderr, webhooksUsage)
		return usageError{errors.New("webhooks: want a subcommand, dead or replay")}
	}
	sub := args[0]
	fs := flag.NewFlagSet("parley webhooks "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, webhooksUsage)
		fs.PrintDefaults()
	}
	n := 100
	if sub == "dead" {
		fs.IntVar(&n, "n", 100, "print at most N dead webhooks")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if sub == "dead" && fs.NArg() > 0 {
		fs.Usage()
		return usageError{fmt.Errorf("webhooks dead: unexpected argument %q", fs.Arg(0))}
	}
	if n <= 0 {
		return usageError{errors.New("webhooks dead: -n must be positive")}
	}
	cfg, rdb, ctx, done, err := openRedisCLI(environ, "webhooks: PARLEY_REDIS_URL is not set: point it at the Redis the nodes use (the embedded store lives inside one server process; this command cannot reach it)")
	if err != nil {
		return err
	}
	defer done()
	q := webhook.New(rdb, chat.Keys{Prefix: cfg.KeyPrefix}, webhook.Options{MaxAge: cfg.WebhookMaxAge})
	if sub == "dead" {
		return printDead(ctx, q, n, stdout)
	}
	replayed, err := q.Replay(ctx, fs.Args()...)
	fmt.Fprintf(stdout, "replayed %d dead webhooks\n", replayed)
	if err != nil {
		return fmt.Errorf("webhooks replay stopped: %w; run it again (what was replayed is not replayed twice)", err)
	}
	return nil
}

// printDead prints up to n dead webhooks as JSON lines.
func printDead(ctx context.Context, q *webhook.Queue, n int, w io.Writer) error {
	dead, err := q.Dead(ctx, n)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	for _, d := range dead {
		line := struct {
			ID          string    `json:"id"`
			Type        string    `json:"type"`
			To          string    `json:"to"`
			Error       string    `json:"error"`
			Attempts    int       `json:"attempts"`
			FirstQueued time.Time `json:"first_queued"`
			Died        time.Time `json:"died"`
		}{d.ID, d.Type, d.To, d.Error, d.Attempts, d.FirstQueued, d.Died}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	return nil
}
