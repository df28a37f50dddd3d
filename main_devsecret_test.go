package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley/internal/testutil"
)

// startDev runs the dev server (embedded store, no JWT key) until its
// tokens are printed, stops it, and returns its stdout.
func startDev(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr testutil.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, map[string]string{"PARLEY_HTTP_ADDR": "127.0.0.1:0", "PARLEY_METRICS_ADDR": ""}, &stdout, &stderr)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stdout.String(), "user 2: ") {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("dev server stopped: %v; stderr:\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no tokens within 20 s; stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("dev server: %v", err)
	}
	return stdout.String()
}

func secretLine(t *testing.T, out string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "PARLEY_JWT_SECRET="); ok {
			return s
		}
	}
	t.Fatalf("no PARLEY_JWT_SECRET line in:\n%s", out)
	return ""
}

// TestDevSecretSurvivesRestart: the dev server keeps its secret in the
// user's config directory (0600, path printed), so a second start signs
// with the same secret and earlier tokens stay valid; its first line is
// the demo URL.
func TestDevSecretSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	first := startDev(t)
	second := startDev(t)
	if a, b := secretLine(t, first), secretLine(t, second); a != b {
		t.Errorf("secret changed across a restart: %s then %s", a, b)
	}
	path := filepath.Join(dir, "parley", "dev-secret")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("secret file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	if !strings.Contains(first, path) {
		t.Errorf("stdout does not name %s:\n%s", path, first)
	}
	if line, _, _ := strings.Cut(first, "\n"); !strings.Contains(line, "/demo") {
		t.Errorf("first line %q does not give the demo URL", line)
	}
}
