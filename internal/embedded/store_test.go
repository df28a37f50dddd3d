package embedded

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestScriptsAvoidEmbeddedLuaGaps fails on a Lua idiom that works in Redis
// and errors on the embedded store: its string.match returns no value (not
// nil) on no match, so tonumber(string.match(...)) raises "value expected".
func TestScriptsAvoidEmbeddedLuaGaps(t *testing.T) {
	bad := regexp.MustCompile(`tonumber\(\s*string\.match\([^()]*(\([^()]*\)[^()]*)*\)\s*\)`)
	var checked int
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// testdata holds past releases' scripts kept as benchmark
		// baselines (chat/testdata/send_v1.lua), run on redis-server only.
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "../.." {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, ".lua") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		for i, line := range strings.Split(string(b), "\n") {
			if bad.MatchString(line) {
				t.Errorf("%s:%d: tonumber(string.match(...)) errors on the embedded store when nothing matches; write tonumber(string.match(...) or '0'): %s", path, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no .lua files found")
	}
}

// TestKeysExpireOnTheClock: a PEXPIRE'd key is gone once its time has
// passed, as in Redis (miniredis alone keeps it until told).
func TestKeysExpireOnTheClock(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.Set(ctx, "k", "v", 50*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for rdb.Exists(ctx, "k").Val() == 1 {
		if time.Now().After(deadline) {
			t.Fatal("a key with a 50 ms TTL still exists after 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
