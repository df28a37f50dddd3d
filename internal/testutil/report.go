package testutil

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"parley/internal/embedded"
)

// used records which Redis the package's tests ran on; skipped counts the
// tests skipped because they need a redis-server process or a real Redis.
var (
	used    usedSet
	skipped atomic.Int64
)

type usedSet struct {
	mu   sync.Mutex
	what map[string]bool
}

func (u *usedSet) note(what string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.what == nil {
		u.what = map[string]bool{}
	}
	u.what[what] = true
}

func (u *usedSet) list() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, 0, len(u.what))
	for w := range u.what {
		out = append(out, w)
	}
	sort.Strings(out)
	return out
}

// shared is the package's one embedded store: every node and raw client
// of a test binary sees the same data, as they would on one Redis. Tests
// keep apart by key prefix and domain, as on the shared Redis.
var shared struct {
	once  sync.Once
	store *embedded.Store
	err   error
}

// sharedEmbedded starts the shared embedded store on first use and returns
// its address; why (when not empty) is what Reporting prints.
func sharedEmbedded(t testing.TB, why string) string {
	t.Helper()
	shared.once.Do(func() { shared.store, shared.err = embedded.Start() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	if why != "" {
		used.note("the " + why + " at " + shared.store.Addr())
	}
	return shared.store.Addr()
}

// Reporting wraps a package's tests (TestMain: os.Exit(testutil.Reporting(m).Run()),
// or goleak.VerifyTestMain(testutil.Reporting(m))): after them it stops the
// shared embedded store and prints one line saying which Redis the tests
// used and how many were skipped for want of a redis-server process.
func Reporting(m *testing.M) interface{ Run() int } {
	pkg := "tests"
	if pc, _, _, ok := runtime.Caller(1); ok {
		// "parley/chat_test.TestMain" -> "parley/chat"
		name := runtime.FuncForPC(pc).Name()
		if i := strings.LastIndex(name, "."); i > 0 {
			pkg = strings.TrimSuffix(name[:i], "_test")
		}
	}
	return reporting{m: m, pkg: pkg}
}

type reporting struct {
	m   *testing.M
	pkg string
}

func (r reporting) Run() int {
	code := r.m.Run()
	if shared.store != nil {
		shared.store.Close()
	}
	if line := reportLine(r.pkg, used.list(), skipped.Load()); line != "" {
		printReport(line)
	}
	return code
}

// reportLine is the one line Reporting prints, or "" when the package's
// tests neither used Redis nor skipped for it.
func reportLine(pkg string, what []string, skips int64) string {
	if len(what) == 0 && skips == 0 {
		return ""
	}
	s := pkg + ": redis: "
	if len(what) == 0 {
		s += "none used"
	} else {
		s += strings.Join(what, "; ")
	}
	if skips > 0 {
		noun := "tests"
		if skips == 1 {
			noun = "test"
		}
		s += fmt.Sprintf("; %d %s skipped that need a redis-server process or a real Redis (apt-get install redis-server)", skips, noun)
	}
	return s
}

// printReport writes the line where a person sees it: `go test ./...`
// shows a passing package's output only with -v, so without -v the line
// goes to the terminal (/dev/tty) when there is one; else to stdout (shown
// with -v, with a failure, or by `go test` in a package directory).
func printReport(line string) {
	var w io.Writer = os.Stdout
	if !testing.Verbose() {
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			defer tty.Close()
			w = tty
		}
	}
	fmt.Fprintln(w, line)
}
