package test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"parley/internal/sioclient"
)

// TestHostileLegacyAuthenticate sends bad "authenticate" payloads to a
// socket that connected without a token in legacy mode: each gets
// socketio-jwt's "unauthorized" {message, data:{code:"invalid_token",
// type:"UnauthorizedError"}} and a disconnect, never a server error, and
// leaves Redis unchanged.
func TestHostileLegacyAuthenticate(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_LEGACY_SOCKETS": "true"})
	bad := map[string][]any{
		"no payload":         nil,
		"a number":           {42},
		"a string":           {"token"},
		"null":               {nil},
		"token not a string": {map[string]any{"token": 5}},
		"empty token":        {map[string]any{"token": ""}},
		"not a JWT":          {map[string]any{"token": "a.b.c"}},
		"huge token":         {map[string]any{"token": strings.Repeat("x", 60<<10)}},
		"expired token":      {map[string]any{"token": n.tok(t, 1, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})}},
		"bad signature":      {map[string]any{"token": n.tok(t, 1, nil) + "x"}},
		"array of tokens":    {[]any{n.tok(t, 1, nil)}},
	}
	for name, args := range bad {
		t.Run(name, func(t *testing.T) {
			before := redisSnapshot(t, n.rdb, n.prefix)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := sioclient.Dial(ctx, n.url, nil, nil)
			if err != nil {
				t.Fatalf("connect without a token in legacy mode: %v", err)
			}
			defer c.Close()
			if err := c.Emit("authenticate", args...); err != nil {
				t.Fatal(err)
			}
			var got []sioclient.Event
		read:
			for {
				select {
				case ev, ok := <-c.Events:
					if !ok {
						break read
					}
					got = append(got, ev)
				case <-ctx.Done():
					t.Errorf("still connected after 5s; events %v", got)
					break read
				}
			}
			status := 401
			if len(got) != 1 || got[0].Name != "unauthorized" || len(got[0].Args) != 1 {
				t.Errorf("events %v, want one unauthorized", got)
				status = 0
			} else {
				var body struct {
					Message string `json:"message"`
					Data    struct {
						Message, Code, Type string
					} `json:"data"`
				}
				if err := json.Unmarshal(got[0].Args[0], &body); err != nil || body.Message == "" ||
					body.Data.Message != body.Message || body.Data.Code != "invalid_token" || body.Data.Type != "UnauthorizedError" {
					t.Errorf("unauthorized %s (%v), want the socketio-jwt shape", got[0].Args[0], err)
				}
			}
			if !errors.Is(c.Err(), sioclient.ErrServerDisconnect) {
				t.Errorf("ended with %v, want a server disconnect", c.Err())
			}
			d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix))
			tally.record(status, d != "")
			if d != "" {
				t.Errorf("Redis changed:\n%s", d)
			}
		})
	}
}
