package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley/auth"
	"parley/config"
)

const testSecret = "0123456789abcdef0123456789abcdef"

// runCLI runs args through run with environ and returns stdout, stderr and
// the error.
func runCLI(t *testing.T, environ map[string]string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, environ, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// claimsOf decodes a JWT's payload without verifying it.
func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q: %d parts, want 3", tok, len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTokenCommand(t *testing.T) {
	t.Parallel()
	withDomain := map[string]string{"PARLEY_JWT_SECRET": testSecret, "PARLEY_JWT_DOMAIN_CLAIM": "tenant"}
	tests := []struct {
		name        string
		environ     map[string]string
		args        []string
		wantUser    string
		wantUserRaw any // the claim as written: json.Number for numeric ids
		wantDomain  string
		wantTTL     time.Duration
		wantWarning string
	}{
		{"numeric user, domain, ttl", withDomain, []string{"--user", "42", "--domain", "acme", "--ttl", "2h"},
			"42", json.Number("42"), "acme", 2 * time.Hour, ""},
		{"string user, default ttl, default domain", withDomain, []string{"--user", "alice"},
			"alice", "alice", "default", time.Hour, ""},
		{"domain without a domain claim is left out", map[string]string{"PARLEY_JWT_SECRET": testSecret},
			[]string{"--user=7", "--domain=acme"}, "7", json.Number("7"), "", time.Hour, "PARLEY_JWT_DOMAIN_CLAIM"},
		{"configured user claim", map[string]string{"PARLEY_JWT_SECRET": testSecret, "PARLEY_JWT_USER_CLAIM": "uid"},
			[]string{"--user", "042"}, "042", "042", "", time.Hour, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, err := runCLI(t, tt.environ, append([]string{"token"}, tt.args...)...)
			if err != nil {
				t.Fatalf("run: %v (stderr %s)", err, errOut)
			}
			tok := strings.TrimSpace(out)
			cfg, err := config.Load(tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			v, err := auth.NewVerifier(auth.Config{Algorithms: []string{"HS256"}, Secret: []byte(testSecret),
				UserClaim: cfg.JWTUserClaim, DomainClaim: cfg.JWTDomainClaim, RequireExp: true})
			if err != nil {
				t.Fatal(err)
			}
			claims, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("the server would refuse the token: %v", err)
			}
			if claims.User != tt.wantUser {
				t.Errorf("user = %q, want %q", claims.User, tt.wantUser)
			}
			if got := claimsOf(t, tok)[cfg.JWTUserClaim]; got != tt.wantUserRaw {
				t.Errorf("claim %s = %#v, want %#v", cfg.JWTUserClaim, got, tt.wantUserRaw)
			}
			if claims.Domain != tt.wantDomain {
				t.Errorf("domain = %q, want %q", claims.Domain, tt.wantDomain)
			}
			if d := time.Until(claims.Expires) - tt.wantTTL; d > 5*time.Second || d < -5*time.Second {
				t.Errorf("exp is %s from now, want %s", time.Until(claims.Expires), tt.wantTTL)
			}
			if tt.wantWarning == "" && errOut != "" {
				t.Errorf("stderr = %q, want nothing", errOut)
			}
			if !strings.Contains(errOut, tt.wantWarning) {
				t.Errorf("stderr = %q, want a warning naming %s", errOut, tt.wantWarning)
			}
		})
	}
}

func TestCommandErrors(t *testing.T) {
	t.Parallel()
	secret := map[string]string{"PARLEY_JWT_SECRET": testSecret}
	tests := []struct {
		name    string
		environ map[string]string
		args    []string
		wantErr string
	}{
		{"token without a secret", map[string]string{}, []string{"token", "--user", "1"}, "PARLEY_JWT_SECRET"},
		{"token without --user", secret, []string{"token"}, "--user is required"},
		{"token with a bad user id", secret, []string{"token", "--user", "a:b"}, "--user"},
		{"token with a bad domain", map[string]string{"PARLEY_JWT_SECRET": testSecret, "PARLEY_JWT_DOMAIN_CLAIM": "d"},
			[]string{"token", "--user", "1", "--domain", "Not A Handle"}, "--domain"},
		{"token with a negative ttl", secret, []string{"token", "--user", "1", "--ttl", "-1h"}, "--ttl"},
		{"token with an unknown flag", secret, []string{"token", "--user", "1", "--admin"}, "admin"},
		{"token with an invalid config", map[string]string{"PARLEY_JWT_SECRET": testSecret, "PARLEY_MAX_TEXT": "x"},
			[]string{"token", "--user", "1"}, "PARLEY_MAX_TEXT"},
		{"version with an argument", nil, []string{"version", "x"}, "unexpected argument"},
		{"unknown command", nil, []string{"serve"}, "unknown argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := runCLI(t, tt.environ, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.wantErr)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
		})
	}
}

// TestCLIMessagesSpeakToUsers: --help succeeds and prints the usage, and no
// error names a Go function or package.
func TestCLIMessagesSpeakToUsers(t *testing.T) {
	t.Parallel()
	secret := map[string]string{"PARLEY_JWT_SECRET": testSecret}
	for _, help := range []string{"--help", "-h"} {
		out, errOut, err := runCLI(t, secret, "token", help)
		if err != nil {
			t.Errorf("token %s: err = %v, want success", help, err)
		}
		if out != "" || !strings.Contains(errOut, "-user") || strings.Contains(errOut+out, "help requested") {
			t.Errorf("token %s: stdout %q stderr %q, want the usage and no \"help requested\"", help, out, errOut)
		}
	}
	for _, args := range [][]string{{"token"}, {"token", "--user", "a:b"}, {"token", "--user", "1", "--domain", "Not A Handle"}} {
		env := map[string]string{"PARLEY_JWT_SECRET": testSecret, "PARLEY_JWT_DOMAIN_CLAIM": "d"}
		_, _, err := runCLI(t, env, args...)
		if err == nil || strings.Contains(err.Error(), "chat.") || strings.Contains(err.Error(), "Parse") {
			t.Errorf("%v: err = %v, want a message without Go names", args, err)
		}
	}
}

// TestStartupLogsAreStructured: with Redis unreachable the go-redis pool's
// dial failures reach the structured log, never stderr as raw
// "pool.go:NNN" lines; a misspelled PARLEY_* variable is warned about with
// the variable it most likely meant. go-redis's default logger holds the
// process's stderr from init, so the server runs in a child process (this
// test binary again) whose whole stderr is read.
func TestStartupLogsAreStructured(t *testing.T) {
	if os.Getenv("PARLEY_TEST_MAIN_CHILD") == "1" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := run(ctx, nil, nil, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "run:", err)
		}
		os.Exit(0)
	}
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now: every dial is refused
	cmd := exec.Command(os.Args[0], "-test.run=^TestStartupLogsAreStructured$")
	cmd.Env = []string{"PARLEY_TEST_MAIN_CHILD=1", "PARLEY_REDIS_URL=redis://" + dead + "/0", "PARLEY_JWT_SECRET=" + testSecret,
		"PARLEY_HTTP_ADDR=127.0.0.1:0", "PARLEY_METRICS_ADDR=", "PARLEY_JWT_SECRT=typo", "PATH=" + os.Getenv("PATH")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	logs := stderr.String()
	if strings.Contains(logs, "pool.go") {
		t.Errorf("raw go-redis lines on stderr:\n%s", logs)
	}
	if !strings.Contains(logs, `msg="redis client"`) || !strings.Contains(logs, "failed to dial") {
		t.Errorf("the dial failures are not in the structured log:\n%s", logs)
	}
	if !strings.Contains(logs, "PARLEY_JWT_SECRT is not a Parley variable; did you mean PARLEY_JWT_SECRET?") {
		t.Errorf("no warning for PARLEY_JWT_SECRT:\n%s", logs)
	}
}

func TestVersionCommand(t *testing.T) {
	t.Parallel()
	out, _, err := runCLI(t, map[string]string{}, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "parley ") || !strings.Contains(out, "go1.") {
		t.Errorf("version = %q, want \"parley <version> … go1.x\"", out)
	}
}

func TestHelpListsCommandsAndEveryVariable(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"--help", "-h", "help"} {
		out, _, err := runCLI(t, map[string]string{}, arg)
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		want := []string{"parley token --user", "parley version"}
		for _, v := range config.Variables() {
			want = append(want, v.Name)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s output lacks %q", arg, w)
			}
		}
	}
}

// With per-domain keys, `parley token` signs with the domain's key and
// adds the configured iss and aud, so the server accepts the token.
func TestTokenCommandDomainKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := "fedcba9876543210fedcba9876543210"
	if err := os.WriteFile(filepath.Join(dir, "acme.key"), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	environ := map[string]string{"PARLEY_DOMAINS": "acme.test=acme", "PARLEY_JWT_DOMAIN_KEYS_DIR": dir,
		"PARLEY_JWT_ISSUER": "https://id.acme.test", "PARLEY_JWT_AUDIENCE": "parley"}
	out, errOut, err := runCLI(t, environ, "token", "--user", "5", "--domain", "acme")
	if err != nil {
		t.Fatalf("run: %v (stderr %s)", err, errOut)
	}
	v, err := auth.NewVerifier(auth.Config{Algorithms: []string{"HS256"}, Secret: []byte(key),
		Issuer: "https://id.acme.test", Audience: "parley", RequireExp: true})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.Verify(strings.TrimSpace(out)); err != nil || c.User != "5" {
		t.Errorf("Verify = %+v, %v; want user 5", c, err)
	}
	if _, _, err := runCLI(t, environ, "token", "--user", "5", "--domain", "beta"); err == nil || !strings.Contains(err.Error(), "PARLEY_JWT_DOMAIN_KEYS_DIR") {
		t.Errorf("token for a domain without a key: err = %v, want one naming PARLEY_JWT_DOMAIN_KEYS_DIR", err)
	}
}
