package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"

	"parley/chat"
	"parley/config"
	"parley/internal/migrate"
	"parley/server"
)

const migrateUsage = `Usage: parley migrate-keys [--apply] [--cursor N] [--count N] [--derive-unread] [--quiet]

Moves a keyspace written before keys carried a Redis Cluster hash tag
(<prefix><domain>:inbox:<user>, ...) to today's names (<prefix>{<domain>:u:<user>}:inbox, ...),
in the Redis of PARLEY_REDIS_URL, under PARLEY_KEY_PREFIX. Keys outside the prefix,
and names the old layout never wrote, are left alone.

Without --apply it is a dry run: it prints each move (old -> new) and the counts, and
changes nothing. With --apply each key is renamed with RENAMENX: a key whose new name
exists already is a CONFLICT, reported and left as is (both names), never overwritten;
a key moved before is skipped, so running it again is safe. After each SCAN round trip
it prints "cursor N": a stopped run goes on with --cursor N (or from the start: the same
result). Client-id records (<domain>:cid:...) are not moved: they expire after
PARLEY_CLIENT_ID_WINDOW. Stop every Parley node first; on Redis Cluster run it against the
single Redis before the data moves to the cluster (RENAME cannot cross slots).

Exit status: 0 done, 1 a Redis error, an interruption or a conflict, 2 bad usage.

Flags:
`

// runMigrateKeys is `parley migrate-keys`: see migrateUsage.
func runMigrateKeys(args []string, environ map[string]string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parley migrate-keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, migrateUsage)
		fs.PrintDefaults()
	}
	apply := fs.Bool("apply", false, "rename the keys (without it: a dry run that changes nothing)")
	cursor := fs.Uint64("cursor", 0, "SCAN cursor to start from: one a stopped run printed")
	count := fs.Int64("count", migrate.DefaultCount, "SCAN COUNT hint: keys looked at per round trip")
	derive := fs.Bool("derive-unread", false, "then fill each user's unread_by hash (peer -> messages after the read horizon) from the inbox, read marks and DMs; only missing fields are written")
	quiet := fs.Bool("quiet", false, "print no line per key: only cursors, conflicts and the summary")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usageError{fmt.Errorf("migrate-keys: unexpected argument %q", fs.Arg(0))}
	}
	if *count <= 0 {
		fs.Usage()
		return usageError{errors.New("migrate-keys: --count must be positive")}
	}
	if v := lookupEnv(environ, "PARLEY_REDIS_CLUSTER_ADDRS"); v != "" {
		return errors.New("migrate-keys: PARLEY_REDIS_CLUSTER_ADDRS is set: the old layout lives on a single Redis (its scripts could not run on a cluster) and RENAME cannot cross cluster slots; run migrate-keys with PARLEY_REDIS_URL pointing at that Redis, then move the data to the cluster")
	}
	cfg, rdb, ctx, done, err := openRedisCLI(environ, "migrate-keys: PARLEY_REDIS_URL is not set: point it at the Redis (or the Sentinel-managed primary) that holds the keys to move (the embedded store starts empty, there is nothing to migrate)")
	if err != nil {
		return err
	}
	defer done()
	return migrateKeys(ctx, rdb, chat.Keys{Prefix: cfg.KeyPrefix},
		migrate.Options{Apply: *apply, Cursor: *cursor, Count: *count}, *derive, *quiet, stdout)
}

// openRedisCLI is a subcommand's Redis, from the configuration in
// environ (embedded names the error for a run without one: the embedded
// store lives inside a server process), and a context that ends on
// SIGINT/SIGTERM; done closes both.
func openRedisCLI(environ map[string]string, embedded string) (config.Config, redis.UniversalClient, context.Context, func(), error) {
	cfg, err := config.Load(environ)
	if err != nil {
		return cfg, nil, nil, nil, err
	}
	if cfg.Embedded() {
		return cfg, nil, nil, nil, errors.New(embedded)
	}
	rdb, err := server.OpenRedis(cfg)
	if err != nil {
		return cfg, nil, nil, nil, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return cfg, rdb, ctx, func() { stop(); _ = rdb.Close() }, nil
}

// migrateKeys runs the migration and prints its progress and summary.
func migrateKeys(ctx context.Context, rdb redis.UniversalClient, keys chat.Keys, o migrate.Options, derive, quiet bool, w io.Writer) error {
	mode := "DRY RUN: nothing is changed (--apply moves the keys)"
	if o.Apply {
		mode = "APPLY: renaming keys"
	}
	fmt.Fprintf(w, "parley migrate-keys: %s; prefix %q, from cursor %d\n", mode, keys.Prefix, o.Cursor)
	verb := "would move"
	if o.Apply {
		verb = "moved"
	}
	const maxUnknown = 20
	unknown := 0
	o.Progress = func(e migrate.Event) {
		switch e.What {
		case migrate.Moved:
			if !quiet {
				fmt.Fprintf(w, "%s %s -> %s\n", verb, e.Move.Old, e.Move.New)
			}
		case migrate.Conflict:
			fmt.Fprintf(w, "CONFLICT %s -> %s: both names exist; left both as they are\n", e.Move.Old, e.Move.New)
		case migrate.Unknown:
			if unknown++; unknown <= maxUnknown && !quiet {
				fmt.Fprintf(w, "left alone (not an old-layout key) %s\n", e.Key)
			}
		case migrate.Cursor:
			fmt.Fprintf(w, "cursor %d\n", e.Cursor)
		}
	}
	rep, err := migrate.Run(ctx, rdb, keys, o)
	printSummary(w, rep)
	if err != nil {
		again := "parley migrate-keys"
		if o.Apply {
			again += " --apply"
		}
		return fmt.Errorf("migrate-keys stopped: %w; nothing is half-moved (each key moves whole): go on with `%s --cursor %d`", err, again, rep.Cursor)
	}
	if derive {
		var users int
		ur, err := migrate.DeriveUnread(ctx, rdb, keys, o.Apply, o.Count, func(u migrate.UserUnread) {
			users++
			if u.Sum != u.Total {
				fmt.Fprintf(w, "note: %s: %d unread over %d conversations, but the unread total says %d (left as is)\n", u.Key, u.Sum, u.Entries, u.Total)
			}
		})
		set := "set"
		if !o.Apply {
			set = "would set"
		}
		fmt.Fprintf(w, "unread_by: %d users, %d conversations: %s %d fields, %d present already (kept); %d users whose unread total differs from their conversations' sum\n",
			ur.Users, ur.Entries, set, ur.Set, ur.Present, ur.Mismatched)
		if err != nil {
			return fmt.Errorf("migrate-keys --derive-unread stopped: %w; run it again (it writes only missing fields)", err)
		}
	}
	if n := rep.Conflicts(); n > 0 {
		return fmt.Errorf("migrate-keys: %d conflicts: both the old and the new name exist (lines CONFLICT above); compare them, keep one (DEL the other, or RENAME the old one over the new), and run it again", n)
	}
	return nil
}

// printSummary prints the counts by kind.
func printSummary(w io.Writer, rep migrate.Report) {
	moved := "would move"
	if rep.Applied {
		moved = "moved"
	}
	state := "scan complete"
	if !rep.Done {
		state = fmt.Sprintf("scan NOT complete, resume at cursor %d", rep.Cursor)
	}
	fmt.Fprintf(w, "summary (%s):\n", state)
	fmt.Fprintf(w, "  %-12s %10s %10s %10s %10s %10s\n", "kind", moved, "done-before", "conflicts", "gone", "left")
	var total migrate.Counts
	for _, k := range migrate.Kinds {
		c := rep.ByKind[k]
		if c == nil {
			continue
		}
		fmt.Fprintf(w, "  %-12s %10d %10d %10d %10d %10d\n", k, c.Moved, c.AlreadyMoved, c.Conflicts, c.Gone, c.Left)
		total.Moved, total.AlreadyMoved, total.Conflicts = total.Moved+c.Moved, total.AlreadyMoved+c.AlreadyMoved, total.Conflicts+c.Conflicts
		total.Gone, total.Left = total.Gone+c.Gone, total.Left+c.Left
	}
	fmt.Fprintf(w, "  %-12s %10d %10d %10d %10d %10d\n", "total", total.Moved, total.AlreadyMoved, total.Conflicts, total.Gone, total.Left)
	fmt.Fprintf(w, "  keys already in the tagged layout: %d; other keys under the prefix, left alone: %d\n", rep.NewLayout, rep.Unknown)
	if c := rep.ByKind[migrate.KindClientID]; c != nil && c.Left > 0 {
		fmt.Fprintln(w, "  left: client-id records, not moved; they expire after PARLEY_CLIENT_ID_WINDOW")
	}
}

// lookupEnv reads name from environ, or from the process when environ is
// nil (as config.Load does).
func lookupEnv(environ map[string]string, name string) string {
	if environ == nil {
		return os.Getenv(name)
	}
	return environ[name]
}
