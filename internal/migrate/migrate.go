package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"parley/chat"
)

// DefaultCount is the SCAN COUNT hint when Options.Count is 0.
const DefaultCount = 500

// Options configure a Run.
type Options struct {
	// Apply renames; without it the run only reports what it would do.
	Apply bool
	// Cursor is the SCAN cursor to start from: 0, or one a stopped run
	// reported, to go on where it stopped.
	Cursor uint64
	// Count is the SCAN COUNT hint (keys looked at per round trip).
	Count int64
	// Progress, when set, is told of every key handled and every cursor.
	Progress func(Event)
}

// What says what happened to one key (or, for Cursor, to the scan).
type What int

const (
	Moved        What = iota // renamed (in a dry run: would be)
	AlreadyMoved             // the old name is gone and the new one exists: done before
	Conflict                 // both names exist: left both, nothing overwritten
	Gone                     // neither name exists any more (the key expired meanwhile)
	LeftToExpire             // a short-lived key that is not moved (KindClientID)
	Unknown                  // under the prefix but not an old-layout key: left alone
	Cursor                   // a SCAN round trip is done; Event.Cursor resumes after it
)

// Event is one thing a Run did, for progress output.
type Event struct {
	What   What
	Move   Move   // Moved, AlreadyMoved, Conflict, Gone, LeftToExpire
	Key    string // Unknown
	Cursor uint64 // Cursor
}

// Counts are the outcomes for one kind.
type Counts struct{ Moved, AlreadyMoved, Conflicts, Gone, Left int64 }

// Report sums up a Run.
type Report struct {
	Applied bool
	ByKind  map[Kind]*Counts
	// NewLayout counts keys already in the tagged layout (their name
	// starts with "<prefix>{"); Unknown the other keys left alone.
	NewLayout, Unknown int64
	// Cursor is where to resume: the cursor after the last round trip
	// fully handled. Done is true when the scan reached its end.
	Cursor uint64
	Done   bool
}

// Conflicts is the number of keys both of whose names exist.
func (r Report) Conflicts() int64 {
	var n int64
	for _, c := range r.ByKind {
		n += c.Conflicts
	}
	return n
}

func (r *Report) count(k Kind) *Counts {
	if r.ByKind == nil {
		r.ByKind = map[Kind]*Counts{}
	}
	c := r.ByKind[k]
	if c == nil {
		c = &Counts{}
		r.ByKind[k] = c
	}
	return c
}

// Run SCANs the keys under keys.Prefix from o.Cursor and moves every key of
// the old layout to its name in keys (see Plan), with RENAMENX: never
// overwriting, each key on its own (a conversation's keys move one by one,
// so run it while no Parley node writes). It stops at the end of the scan,
// at the first Redis error, or when ctx ends; the Report then says where to
// resume (Report.Cursor) and the error is returned with it.
func Run(ctx context.Context, rdb redis.UniversalClient, keys chat.Keys, o Options) (Report, error) {
	if o.Count <= 0 {
		o.Count = DefaultCount
	}
	progress := o.Progress
	if progress == nil {
		progress = func(Event) {}
	}
	rep := Report{Applied: o.Apply, Cursor: o.Cursor}
	match := globEscape(keys.Prefix) + "*"
	cursor := o.Cursor
	for {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		names, next, err := rdb.Scan(ctx, cursor, match, o.Count).Result()
		if err != nil {
			return rep, fmt.Errorf("SCAN %d: %w", cursor, err)
		}
		var moves []Move
		for _, name := range names {
			m, ok := Plan(keys, name)
			switch {
			case ok && m.New == "":
				rep.count(m.Kind).Left++
				progress(Event{What: LeftToExpire, Move: m})
			case ok:
				moves = append(moves, m)
			case strings.HasPrefix(name, keys.Prefix+"{"):
				rep.NewLayout++
			default:
				rep.Unknown++
				progress(Event{What: Unknown, Key: name})
			}
		}
		outcomes, err := settle(ctx, rdb, moves, o.Apply)
		if err != nil {
			return rep, err
		}
		for i, m := range moves {
			c := rep.count(m.Kind)
			switch outcomes[i] {
			case Moved:
				c.Moved++
			case AlreadyMoved:
				c.AlreadyMoved++
			case Conflict:
				c.Conflicts++
			case Gone:
				c.Gone++
			}
			progress(Event{What: outcomes[i], Move: m})
		}
		rep.Cursor, cursor = next, next
		progress(Event{What: Cursor, Cursor: next})
		if next == 0 {
			rep.Done = true
			return rep, nil
		}
	}
}

// settle renames each move with RENAMENX (a dry run asks EXISTS of both
// names instead) in one pipeline, and classifies the outcome. A key whose
// old name is missing is looked up again under its new name, in a second
// pipeline, to tell a key moved before from one that expired.
func settle(ctx context.Context, rdb redis.UniversalClient, moves []Move, apply bool) ([]What, error) {
	out := make([]What, len(moves))
	if len(moves) == 0 {
		return out, nil
	}
	missing := make([]bool, len(moves))
	if apply {
		cmds := make([]*redis.BoolCmd, len(moves))
		_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, m := range moves {
				cmds[i] = p.RenameNX(ctx, m.Old, m.New)
			}
			return nil
		})
		for i, c := range cmds {
			moved, err := c.Result()
			switch {
			case isNoSuchKey(err):
				missing[i] = true
			case err != nil:
				return nil, fmt.Errorf("RENAMENX %s %s: %w", moves[i].Old, moves[i].New, err)
			case moved:
				out[i] = Moved
			default:
				out[i] = Conflict
			}
		}
	} else {
		olds, news := make([]*redis.IntCmd, len(moves)), make([]*redis.IntCmd, len(moves))
		_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, m := range moves {
				olds[i], news[i] = p.Exists(ctx, m.Old), p.Exists(ctx, m.New)
			}
			return nil
		})
		for i := range moves {
			o, err1 := olds[i].Result()
			n, err2 := news[i].Result()
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("EXISTS %s %s: %w", moves[i].Old, moves[i].New, err)
			}
			switch {
			case o == 0 && n == 1:
				out[i] = AlreadyMoved
			case o == 0:
				out[i] = Gone
			case n == 1:
				out[i] = Conflict
			default:
				out[i] = Moved
			}
		}
		return out, nil
	}
	exists := make([]*redis.IntCmd, len(moves))
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range moves {
			if missing[i] {
				exists[i] = p.Exists(ctx, m.New)
			}
		}
		return nil
	})
	for i, c := range exists {
		if c == nil {
			continue
		}
		n, err := c.Result()
		if err != nil {
			return nil, fmt.Errorf("EXISTS %s: %w", moves[i].New, err)
		}
		out[i] = Gone
		if n == 1 {
			out[i] = AlreadyMoved
		}
	}
	return out, nil
}

// isNoSuchKey reports RENAMENX's refusal of a missing source key.
func isNoSuchKey(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "no such key")
}

// globEscape quotes the glob characters of s for SCAN MATCH (the prefix
// may not hold them, but '\' it may).
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\*?[]`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
