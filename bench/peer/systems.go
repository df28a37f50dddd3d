package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// system is one server under test, run as its own process on 127.0.0.1.
type system struct {
	name   string
	cmd    *exec.Cmd
	url    string // http://127.0.0.1:port
	secret string // HS256 connection-token secret
	apiKey string // Centrifugo's HTTP API key
	prefix string // its keys in Redis
	dir    string
	pprof  string // Parley's /debug/pprof/ URL, "" when off
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// signHS256 makes a compact JWT of claims.
func signHS256(secret string, claims map[string]any) string {
	enc := base64.RawURLEncoding
	body, _ := json.Marshal(claims)
	s := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(body)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(s))
	return s + "." + enc.EncodeToString(m.Sum(nil))
}

// token is user's connection token (Parley also takes it to send as user).
func (s *system) token(user int) string {
	exp := time.Now().Add(2 * time.Hour).Unix()
	if s.name == parleyName {
		return signHS256(s.secret, map[string]any{"user_id": user, "exp": exp})
	}
	return signHS256(s.secret, map[string]any{"sub": strconv.Itoa(user), "exp": exp})
}

const (
	parleyName     = "Parley"
	centrifugoName = "Centrifugo"
)

// startParley runs the Parley binary on redisURL under a fresh key prefix,
// with the send/write rate limits off (the peer has none either).
// With pprof, its metrics listener serves /debug/pprof/ at s.pprof.
func startParley(ctx context.Context, bin, redisURL string, pprof bool, extraEnv string) (*system, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &system{name: parleyName, url: "http://" + addr, secret: randHex(32), prefix: "peer:" + randHex(4) + ":"}
	metrics := []string{"PARLEY_METRICS_ADDR="}
	if pprof {
		maddr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		s.pprof = "http://" + maddr + "/debug/pprof/"
		metrics = []string{"PARLEY_METRICS_ADDR=" + maddr, "PARLEY_PPROF=true"}
	}
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(append(os.Environ(),
		"PARLEY_REDIS_URL="+redisURL, "PARLEY_KEY_PREFIX="+s.prefix, "PARLEY_JWT_SECRET="+s.secret,
		"PARLEY_HTTP_ADDR="+addr, "PARLEY_LOG_LEVEL=error", "PARLEY_DEFAULT_DOMAIN=bench",
		"PARLEY_SEND_RATE=0", "PARLEY_WRITE_RATE=0"), metrics...)
	if extraEnv != "" {
		cmd.Env = append(cmd.Env, strings.Split(extraEnv, ",")...)
	}
	s.cmd = cmd
	return s, s.run(ctx, "/healthz")
}

// startCentrifugo runs Centrifugo on its Redis engine with a personal
// channel per user (server-side subscription), history 1 000 / 24 h with
// recovery, HS256 connection tokens and the HTTP API.
func startCentrifugo(ctx context.Context, bin, redisURL string) (*system, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	dir, err := os.MkdirTemp("", "peer-centrifugo-")
	if err != nil {
		return nil, err
	}
	s := &system{name: centrifugoName, url: "http://" + addr, secret: randHex(32), apiKey: randHex(16),
		prefix: "peer-cf-" + randHex(4), dir: dir}
	p, _ := strconv.Atoi(port)
	conf := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": p},
		"log":         map[string]any{"level": "error"},
		"engine": map[string]any{"type": "redis", "redis": map[string]any{
			"address": []string{redisURL}, "prefix": s.prefix}},
		"client": map[string]any{
			"token":                                map[string]any{"hmac_secret_key": s.secret},
			"allowed_origins":                      []string{"*"},
			"subscribe_to_user_personal_channel":   map[string]any{"enabled": true, "personal_channel_namespace": "personal"},
			"user_connection_limit":                32,
			"insecure_skip_token_signature_verify": false,
		},
		"channel": map[string]any{"namespaces": []map[string]any{{"name": "personal",
			"history_size": 1000, "history_ttl": "24h", "force_recovery": true}}},
		"http_api": map[string]any{"key": s.apiKey},
		"health":   map[string]any{"enabled": true},
	}
	b, _ := json.MarshalIndent(conf, "", "  ")
	file := filepath.Join(dir, "config.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return nil, err
	}
	s.cmd = exec.CommandContext(ctx, bin, "-c", file)
	s.cmd.Dir = dir
	return s, s.run(ctx, "/health")
}

func (s *system) run(ctx context.Context, health string) error {
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.url + health)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return fmt.Errorf("%s did not answer %s in 20 s", s.name, health)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *system) pid() int { return s.cmd.Process.Pid }

func (s *system) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// publish sends one message from user a to user b over HTTP, so that both
// parties' connections get it: Parley's POST /api/user/:id as a, and
// Centrifugo's /api/broadcast to both personal channels.
func (s *system) publish(ctx context.Context, hc *http.Client, tokens []string, a, b int, text string) error {
	var req *http.Request
	if s.name == parleyName {
		body := `{"type":"text","text":"` + text + `"}`
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/api/user/"+strconv.Itoa(b), strings.NewReader(body))
		req.Header.Set("X-Auth-Token", tokens[a])
	} else {
		body := `{"channels":["personal:#` + strconv.Itoa(a) + `","personal:#` + strconv.Itoa(b) + `"],"data":{"text":"` + text + `"}}`
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/api/broadcast", strings.NewReader(body))
		req.Header.Set("X-API-Key", s.apiKey)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	out, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	switch {
	case s.name == parleyName && resp.StatusCode != http.StatusCreated:
		return fmt.Errorf("POST status %d: %.200s", resp.StatusCode, out)
	case s.name == centrifugoName && (resp.StatusCode != http.StatusOK || strings.Contains(string(out), `"error"`)):
		return fmt.Errorf("broadcast status %d: %.200s", resp.StatusCode, out)
	}
	return nil
}

var errConnect = errors.New("connect refused")
