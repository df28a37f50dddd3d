package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"parley/internal/testutil"
)

// cliRedis is a subcommand test's Redis: its URL, a client on it and a
// key prefix of the test's own, whose keys are deleted when it ends.
func cliRedis(t *testing.T) (string, *redis.Client, string) {
	t.Helper()
	url := testutil.RedisURL(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	prefix := testutil.Prefix(t)
	t.Cleanup(func() { testutil.DeleteKeys(t, rdb, prefix+"*") })
	return url, rdb, prefix
}

// TestMigrateKeysCommand: `parley migrate-keys` against Redis: the dry run
// prints each move and changes nothing, --apply moves, a conflict is
// reported with exit status 1.
func TestMigrateKeysCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, rdb, prefix := cliRedis(t)
	env := map[string]string{"PARLEY_REDIS_URL": url, "PARLEY_KEY_PREFIX": prefix}
	oldDM, newDM := prefix+"acme:dm:1-2", prefix+"{acme:dm:1-2}"
	oldInbox, newInbox := prefix+"acme:inbox:1", prefix+"{acme:u:1}:inbox"
	oldRead, newRead := prefix+"acme:read:2", prefix+"{acme:u:2}:read"
	rdb.ZAdd(ctx, oldDM, redis.Z{Score: 1, Member: "m1"})
	rdb.ZAdd(ctx, oldInbox, redis.Z{Score: 1764547200000, Member: "user-2"})
	rdb.HSet(ctx, oldRead, "1", "1:m1:1764547200000")
	rdb.HSet(ctx, newRead, "1", "a newer mark")

	out, _, err := runCLI(t, env, "migrate-keys", "--count", "3")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "1 conflicts") {
		t.Errorf("dry run: err = %v, want the conflict (exit status 1)", err)
	}
	for _, want := range []string{"DRY RUN", "would move " + oldDM + " -> " + newDM, "would move " + oldInbox + " -> " + newInbox,
		"CONFLICT " + oldRead + " -> " + newRead, "summary (scan complete)", "cursor 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if n := rdb.Exists(ctx, oldDM, oldInbox, newRead, oldRead).Val(); n != 4 {
		t.Errorf("after the dry run %d of the 4 keys exist, want all", n)
	}

	out, _, err = runCLI(t, env, "migrate-keys", "--apply", "--quiet")
	if err == nil || exitCode(err) != 1 {
		t.Errorf("apply: err = %v, want the conflict (exit status 1)", err)
	}
	if strings.Contains(out, "moved "+oldDM) || !strings.Contains(out, "CONFLICT "+oldRead) {
		t.Errorf("apply --quiet output:\n%s\nwant no line per move, the conflict", out)
	}
	if n := rdb.Exists(ctx, newDM, newInbox).Val(); n != 2 {
		t.Errorf("after --apply %d of the 2 new keys exist", n)
	}
	if v := rdb.HGet(ctx, newRead, "1").Val(); v != "a newer mark" {
		t.Errorf("the conflicting key became %q, want it untouched", v)
	}

	rdb.Del(ctx, oldRead)
	out, _, err = runCLI(t, env, "migrate-keys", "--apply", "--derive-unread")
	if err != nil {
		t.Errorf("third run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "unread_by: 1 users") {
		t.Errorf("third run output lacks the unread_by line:\n%s", out)
	}
	if v := rdb.HGet(ctx, prefix+"{acme:u:1}:unread_by", "2").Val(); v != "1" {
		t.Errorf("unread_by of 1 for 2 = %q, want 1", v)
	}
}

func TestMigrateKeysUsage(t *testing.T) {
	t.Parallel()
	for _, help := range []string{"--help", "-h"} {
		out, errOut, err := runCLI(t, map[string]string{}, "migrate-keys", help)
		if err != nil || exitCode(err) == 2 {
			t.Errorf("%s: err = %v, want success", help, err)
		}
		if out != "" || !strings.Contains(errOut, "Usage: parley migrate-keys") || !strings.Contains(errOut, "-apply") {
			t.Errorf("%s: stdout %q stderr %q, want the usage", help, out, errOut)
		}
	}
	for _, args := range [][]string{{"--bogus"}, {"--apply", "now"}, {"--count", "0"}, {"--cursor", "-1"}} {
		_, errOut, err := runCLI(t, map[string]string{}, append([]string{"migrate-keys"}, args...)...)
		if err == nil || exitCode(err) != 2 || !strings.Contains(errOut, "Usage: parley migrate-keys") {
			t.Errorf("%v: err = %v (exit %d), stderr %q; want exit status 2 and the usage", args, err, exitCode(err), errOut)
		}
	}
	if exitCode(errors.New("redis down")) != 1 {
		t.Error("an error that is no usage error must exit 1")
	}
	for name, env := range map[string]map[string]string{
		"PARLEY_REDIS_URL":           {},
		"PARLEY_REDIS_CLUSTER_ADDRS": {"PARLEY_REDIS_URL": "redis://127.0.0.1:1", "PARLEY_REDIS_CLUSTER_ADDRS": "127.0.0.1:7000"},
	} {
		_, _, err := runCLI(t, env, "migrate-keys")
		if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v, want one naming %s", name, err, name)
		}
	}
	out, _, _ := runCLI(t, map[string]string{}, "--help")
	if !strings.Contains(out, "parley migrate-keys") {
		t.Errorf("parley --help lacks migrate-keys:\n%s", out)
	}
}

// TestMigrateKeysExitStatus runs main in a child process (this test binary
// again): --help exits 0, an unknown flag 2 with the usage.
func TestMigrateKeysExitStatus(t *testing.T) {
	if args := os.Getenv("PARLEY_TEST_MAIN_ARGS"); args != "" {
		os.Args = append([]string{"parley"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	t.Parallel()
	for _, tt := range []struct {
		args string
		code int
	}{{"migrate-keys --help", 0}, {"migrate-keys --bogus", 2}, {"migrate-keys --apply extra", 2}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMigrateKeysExitStatus$")
		cmd.Env = []string{"PARLEY_TEST_MAIN_ARGS=" + tt.args, "PATH=" + os.Getenv("PATH")}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tt.code || !strings.Contains(stderr.String(), "Usage: parley migrate-keys") {
			t.Errorf("parley %s: exit %d, stderr:\n%s\nwant exit %d and the usage", tt.args, code, stderr.String(), tt.code)
		}
	}
}
