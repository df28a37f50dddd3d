package test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"parley/internal/testutil"
)

// buildBinary builds the parley command once per test into a temp dir.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "parley")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(args, ".")...)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// cleanEnv is the process environment without any PARLEY_ variable, with
// the metrics listener off (so parallel binaries never fight over its
// default port) unless extra sets it: for duplicates the last one wins.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") {
			env = append(env, kv)
		}
	}
	return append(append(env, "PARLEY_METRICS_ADDR="), extra...)
}

func TestBinary(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)

	t.Run("embedded dev mode", func(t *testing.T) {
		t.Parallel()
		addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
		cmd := exec.Command(bin)
		metricsAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
		// The dev secret goes to a private config directory, not the user's.
		cmd.Env = cleanEnv("PARLEY_HTTP_ADDR="+addr, "PARLEY_METRICS_ADDR="+metricsAddr, "XDG_CONFIG_HOME="+t.TempDir())
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr testutil.SyncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
			}
		})

		tokens := map[string]string{}
		var out bytes.Buffer
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
			_, _ = io.Copy(io.Discard, stdout)
		}()
		deadline := time.After(15 * time.Second)
		sawDev := false
	read:
		for len(tokens) < 2 {
			select {
			case line, ok := <-lines:
				if !ok {
					break read
				}
				if strings.Contains(line, "DEV MODE") {
					sawDev = true
				}
				out.WriteString(line + "\n")
				for _, u := range []string{"1", "2"} {
					if tok, found := strings.CutPrefix(strings.TrimSpace(line), "user "+u+": "); found {
						tokens[u] = tok
					}
				}
			case <-deadline:
				break read
			}
		}
		go func() {
			for range lines { // keep draining stdout
			}
		}()
		if len(tokens) != 2 {
			t.Fatalf("no dev tokens printed; stdout:\n%s\nstderr:\n%s", out.String(), stderr.String())
		}
		if !sawDev {
			t.Errorf("stdout does not announce DEV MODE:\n%s", out.String())
		}
		go func() { exited <- cmd.Wait() }()
		testutil.WaitTCP(t, addr, 5*time.Second)
		if !strings.Contains(stderr.String(), "EMBEDDED") {
			t.Errorf("stderr does not mention the EMBEDDED store:\n%s", stderr.String())
		}

		n := &node{url: "http://" + addr, hc: &http.Client{Timeout: 5 * time.Second}}
		e := n.sendText(t, tokens["1"], "2", "Hello, world!")
		wantNumber(t, "author", e["author"], "1")
		r := n.get(t, tokens["2"], "/api/user/1")
		mustStatus(t, r, http.StatusOK)
		msgs := objs(t, r.obj, "messages")
		if len(msgs) != 1 {
			t.Fatalf("history has %d messages, want 1", len(msgs))
		}
		wantString(t, "text", msgs[0]["text"], "Hello, world!")
		wantString(t, "key", obj(t, r.obj, "state")["key"], "default:dm:1-2")
		resp, err := n.hc.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatalf("GET /metrics: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := `parley_http_requests_total{method="POST",route="/api/user/:id",status="201"} 1`; !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
		n.hc.CloseIdleConnections()

		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("after SIGTERM: %v, want exit 0; stderr:\n%s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no exit within 10s of SIGTERM")
		}
	})

	t.Run("Redis without a JWT key", func(t *testing.T) {
		t.Parallel()
		cmd := exec.Command(bin)
		cmd.Env = cleanEnv("PARLEY_HTTP_ADDR=127.0.0.1:0", "PARLEY_REDIS_URL=redis://127.0.0.1:1/0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		done := make(chan error, 1)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Errorf("exit = %v, want a non-zero exit code", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("the binary kept running without a JWT key")
		}
		if !strings.Contains(stderr.String(), "PARLEY_JWT_SECRET") {
			t.Errorf("stderr does not name PARLEY_JWT_SECRET:\n%s", stderr.String())
		}
	})
}
