package config_test

import (
	"strings"
	"testing"
	"time"

	"parley/config"
)

// TestLoadHook: the before-send hook's variables, and the secret it needs.
func TestLoadHook(t *testing.T) {
	secret := strings.Repeat("s", 16)
	c, err := config.Load(map[string]string{"PARLEY_HOOK_BEFORE_SEND_URL": "https://platform.example/hooks/before-send",
		"PARLEY_WEBHOOK_SECRET": secret, "PARLEY_HOOK_TIMEOUT": "200ms", "PARLEY_HOOK_FAIL_OPEN": "false"})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.HookBeforeSendURL != "https://platform.example/hooks/before-send" || c.WebhookSecret != secret ||
		c.HookTimeout != 200*time.Millisecond || c.HookFailOpen {
		t.Errorf("Load = URL %q secret %q timeout %s fail-open %v, want the values given",
			c.HookBeforeSendURL, c.WebhookSecret, c.HookTimeout, c.HookFailOpen)
	}

	invalid := []struct {
		name    string
		env     map[string]string
		wantVar string
		wantMsg string
	}{
		{"URL without secret", map[string]string{"PARLEY_HOOK_BEFORE_SEND_URL": "https://p.example/h"}, "PARLEY_WEBHOOK_SECRET", "required"},
		{"short secret", map[string]string{"PARLEY_HOOK_BEFORE_SEND_URL": "https://p.example/h", "PARLEY_WEBHOOK_SECRET": "short"}, "PARLEY_WEBHOOK_SECRET", "16 bytes"},
		{"URL not http", map[string]string{"PARLEY_HOOK_BEFORE_SEND_URL": "ftp://p.example/h", "PARLEY_WEBHOOK_SECRET": secret}, "PARLEY_HOOK_BEFORE_SEND_URL", "scheme"},
		{"URL without host", map[string]string{"PARLEY_HOOK_BEFORE_SEND_URL": "https:///h", "PARLEY_WEBHOOK_SECRET": secret}, "PARLEY_HOOK_BEFORE_SEND_URL", "host"},
		{"relative URL", map[string]string{"PARLEY_HOOK_BEFORE_SEND_URL": "/hooks", "PARLEY_WEBHOOK_SECRET": secret}, "PARLEY_HOOK_BEFORE_SEND_URL", "scheme"},
		{"timeout too short", map[string]string{"PARLEY_HOOK_TIMEOUT": "1ms"}, "PARLEY_HOOK_TIMEOUT", "between"},
		{"timeout too long", map[string]string{"PARLEY_HOOK_TIMEOUT": "31s"}, "PARLEY_HOOK_TIMEOUT", "between"},
		{"timeout garbage", map[string]string{"PARLEY_HOOK_TIMEOUT": "soon"}, "PARLEY_HOOK_TIMEOUT", "invalid"},
		{"fail-open not a bool", map[string]string{"PARLEY_HOOK_FAIL_OPEN": "sometimes"}, "PARLEY_HOOK_FAIL_OPEN", "invalid"},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(tt.env)
			if err == nil {
				t.Fatalf("Load(%v) = %+v, want an error naming %s", tt.env, c, tt.wantVar)
			}
			if !strings.Contains(err.Error(), tt.wantVar) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Load(%v) error = %q, want it to name %s and say %q", tt.env, err, tt.wantVar, tt.wantMsg)
			}
		})
	}
}
