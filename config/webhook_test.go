package config_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"parley/config"
)

const webhookSecret = "0123456789abcdef-webhook"

// TestWebhookConfig: the PARLEY_WEBHOOK_* variables load, trimmed, and
// the webhooks are off without a URL.
func TestWebhookConfig(t *testing.T) {
	c, err := config.Load(map[string]string{
		"PARLEY_WEBHOOK_URL":          " https://platform.example/hooks/parley ",
		"PARLEY_WEBHOOK_SECRET":       webhookSecret,
		"PARLEY_WEBHOOK_EVENTS":       "message.new, message.read,,message.delete",
		"PARLEY_WEBHOOK_OFFLINE_ONLY": "false",
		"PARLEY_WEBHOOK_MAX_AGE":      "2h",
		"PARLEY_WEBHOOK_TIMEOUT":      "750ms",
		"PARLEY_WEBHOOK_CONCURRENCY":  "100",
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.WebhookURL != "https://platform.example/hooks/parley" || c.WebhookSecret != webhookSecret ||
		!slices.Equal(c.WebhookEvents, []string{"message.new", "message.read", "message.delete"}) ||
		c.WebhookOfflineOnly || c.WebhookMaxAge != 2*time.Hour || c.WebhookTimeout != 750*time.Millisecond || c.WebhookConcurrency != 100 {
		t.Errorf("Load = URL %q, secret %q, events %q, offline only %v, max age %s, timeout %s",
			c.WebhookURL, c.WebhookSecret, c.WebhookEvents, c.WebhookOfflineOnly, c.WebhookMaxAge, c.WebhookTimeout)
	}
	// Every event type the webhook package sends is accepted.
	c, err = config.Load(map[string]string{"PARLEY_WEBHOOK_URL": "http://platform/hook", "PARLEY_WEBHOOK_SECRET": webhookSecret,
		"PARLEY_WEBHOOK_EVENTS": strings.Join(config.WebhookEvents(), ",")})
	if err != nil || !reflect.DeepEqual(c.WebhookEvents, config.WebhookEvents()) {
		t.Errorf("all events: Load = %q, %v", c.WebhookEvents, err)
	}
}

// TestWebhookConfigInvalid: each bad PARLEY_WEBHOOK_* value is refused
// with an error that names the variable.
func TestWebhookConfigInvalid(t *testing.T) {
	url := "https://platform.example/hook"
	for _, tt := range []struct {
		name    string
		env     map[string]string
		wantVar string
	}{
		{"URL without secret", map[string]string{"PARLEY_WEBHOOK_URL": url}, "PARLEY_WEBHOOK_SECRET"},
		{"URL with blank secret", map[string]string{"PARLEY_WEBHOOK_URL": url, "PARLEY_WEBHOOK_SECRET": ""}, "PARLEY_WEBHOOK_SECRET"},
		{"secret too short", map[string]string{"PARLEY_WEBHOOK_URL": url, "PARLEY_WEBHOOK_SECRET": "short"}, "PARLEY_WEBHOOK_SECRET"},
		{"URL relative", map[string]string{"PARLEY_WEBHOOK_URL": "/hook", "PARLEY_WEBHOOK_SECRET": webhookSecret}, "PARLEY_WEBHOOK_URL"},
		{"URL ftp", map[string]string{"PARLEY_WEBHOOK_URL": "ftp://platform/hook", "PARLEY_WEBHOOK_SECRET": webhookSecret}, "PARLEY_WEBHOOK_URL"},
		{"unknown event", map[string]string{"PARLEY_WEBHOOK_URL": url, "PARLEY_WEBHOOK_SECRET": webhookSecret, "PARLEY_WEBHOOK_EVENTS": "message.new,message.typing"}, "PARLEY_WEBHOOK_EVENTS"},
		{"unknown event without URL", map[string]string{"PARLEY_WEBHOOK_EVENTS": "Message.New"}, "PARLEY_WEBHOOK_EVENTS"},
		{"no events", map[string]string{"PARLEY_WEBHOOK_URL": url, "PARLEY_WEBHOOK_SECRET": webhookSecret, "PARLEY_WEBHOOK_EVENTS": " , "}, "PARLEY_WEBHOOK_EVENTS"},
		{"concurrency 0", map[string]string{"PARLEY_WEBHOOK_CONCURRENCY": "0"}, "PARLEY_WEBHOOK_CONCURRENCY"},
		{"concurrency too high", map[string]string{"PARLEY_WEBHOOK_CONCURRENCY": "5000"}, "PARLEY_WEBHOOK_CONCURRENCY"},
		{"offline only not a bool", map[string]string{"PARLEY_WEBHOOK_OFFLINE_ONLY": "mostly"}, "PARLEY_WEBHOOK_OFFLINE_ONLY"},
		{"max age too short", map[string]string{"PARLEY_WEBHOOK_MAX_AGE": "30s"}, "PARLEY_WEBHOOK_MAX_AGE"},
		{"max age too long", map[string]string{"PARLEY_WEBHOOK_MAX_AGE": "169h"}, "PARLEY_WEBHOOK_MAX_AGE"},
		{"max age garbage", map[string]string{"PARLEY_WEBHOOK_MAX_AGE": "a day"}, "PARLEY_WEBHOOK_MAX_AGE"},
		{"timeout zero", map[string]string{"PARLEY_WEBHOOK_TIMEOUT": "0s"}, "PARLEY_WEBHOOK_TIMEOUT"},
		{"timeout too long", map[string]string{"PARLEY_WEBHOOK_TIMEOUT": "2m"}, "PARLEY_WEBHOOK_TIMEOUT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(tt.env)
			if err == nil {
				t.Fatalf("Load(%v) = %+v, want an error naming %s", tt.env, c, tt.wantVar)
			}
			if !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("Load(%v) error = %q, want it to name %s", tt.env, err, tt.wantVar)
			}
		})
	}
}
