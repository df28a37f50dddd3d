package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

const (
	maxTextLimit   = 100_000
	minBody        = 1024
	maxBody        = 10 << 20 // 10 MiB
	maxPerPage     = 1000
	maxKeyPrefix   = 64
	minSecretBytes = 16 // as auth.MinSecretBytes
	keyPrefixChars = " *?[]{}"
)

// handlePattern is the syntax of a domain handle.
const handlePattern = `^[a-z0-9_-]{1,32}$`

// headerNamePattern is an RFC 9110 field name (a token).
const headerNamePattern = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"

// supportedAlgorithms mirrors the algorithms package auth can verify.
func supportedAlgorithms() []string {
	return []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}
}

// validate checks the parsed values; every message names its variable.
func (c Config) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", Prefix, key, fmt.Sprintf(format, args...)))
	}
	handle := regexp.MustCompile(handlePattern)

	// JWT.
	if len(c.JWTAlgorithms) == 0 {
		bad("JWT_ALGORITHMS", "must list at least one algorithm")
	}
	var hmac, asym bool
	for _, alg := range c.JWTAlgorithms {
		switch {
		case !slices.Contains(supportedAlgorithms(), alg):
			bad("JWT_ALGORITHMS", "unsupported algorithm %q (supported: %s)", alg, strings.Join(supportedAlgorithms(), " "))
		case strings.HasPrefix(alg, "HS"):
			hmac = true
		default:
			asym = true
		}
	}
	if hmac && asym {
		bad("JWT_ALGORITHMS", "cannot mix HMAC (HS*) and asymmetric algorithms")
	}
	if c.JWTSecret != "" && c.JWTPublicKeyFile != "" {
		bad("JWT_SECRET", "must not be set together with %sJWT_PUBLIC_KEY_FILE", Prefix)
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < minSecretBytes {
		bad("JWT_SECRET", "must be at least %d bytes, got %d", minSecretBytes, len(c.JWTSecret))
	}
	if c.JWTSecret != "" && asym && !hmac {
		bad("JWT_SECRET", "is an HMAC secret but %sJWT_ALGORITHMS allows only asymmetric algorithms", Prefix)
	}
	if c.JWTPublicKeyFile != "" && hmac && !asym {
		bad("JWT_PUBLIC_KEY_FILE", "is a public key but %sJWT_ALGORITHMS allows only HMAC algorithms", Prefix)
	}
	if strings.TrimSpace(c.JWTUserClaim) == "" {
		bad("JWT_USER_CLAIM", "must not be empty")
	}
	if c.JWTLeeway < 0 {
		bad("JWT_LEEWAY", "must not be negative, got %s", c.JWTLeeway)
	}
	if c.JWTCacheTTL < 0 {
		bad("JWT_CACHE_TTL", "must not be negative, got %s", c.JWTCacheTTL)
	}

	// Domains.
	if !handle.MatchString(c.DefaultDomain) {
		bad("DEFAULT_DOMAIN", "%q must match %s", c.DefaultDomain, handlePattern)
	}
	hosts := make([]string, 0, len(c.Domains))
	for host := range c.Domains {
		hosts = append(hosts, host)
	}
	sort.Strings(hosts) // deterministic messages
	for _, host := range hosts {
		if h := c.Domains[host]; !handle.MatchString(h) {
			bad("DOMAINS", "handle %q for host %q must match %s", h, host, handlePattern)
		}
	}
	// Tenant binding: with several domains on one key and no domain
	// claim, the client-chosen Host header would pick the tenant a token
	// acts in.
	if len(c.Domains) > 0 && c.JWTDomainClaim == "" && c.JWTDomainKeysDir == "" {
		bad("DOMAINS", "maps hosts to domains, but nothing binds a token to its domain, so a token of one domain "+
			"would be accepted on every other domain's host; set %sJWT_DOMAIN_CLAIM (the claim your tokens carry "+
			"the domain handle in) or %sJWT_DOMAIN_KEYS_DIR (a directory with one key per domain, <handle>.key or <handle>.pem)",
			Prefix, Prefix)
	}
	if c.JWTDomainKeysDir != "" {
		for _, v := range []struct{ key, val string }{{"JWT_SECRET", c.JWTSecret}, {"JWT_PUBLIC_KEY_FILE", c.JWTPublicKeyFile}} {
			if v.val != "" {
				bad(v.key, "must not be set together with %sJWT_DOMAIN_KEYS_DIR: every domain's key, the default domain's too, is a file there (<handle>.key or <handle>.pem)", Prefix)
			}
		}
	}

	// Metrics and profiling.
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("METRICS_ADDR", "%q is not host:port", c.MetricsAddr)
		}
	} else if c.PProf {
		bad("PPROF", "needs PARLEY_METRICS_ADDR: pprof is served on the metrics listener")
	}

	// User service.
	if c.UserAPIURL != "" {
		if err := checkUserAPIURL(c.UserAPIURL); err != nil {
			bad("USER_API_URL", "%v", err)
		}
	}
	if c.UserAPIHeader != "" {
		name, value, ok := strings.Cut(c.UserAPIHeader, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !regexp.MustCompile(headerNamePattern).MatchString(name) || value == "" {
			bad("USER_API_HEADER", `must have the form "Name: value"`)
		}
	}
	positive := []struct {
		key string
		d   time.Duration
	}{
		{"USER_API_TIMEOUT", c.UserAPITimeout},
		{"USER_CACHE_TTL", c.UserCacheTTL},
		{"SHUTDOWN_TIMEOUT", c.ShutdownTimeout},
		{"EVENT_LOG_AGE", c.EventLogAge},
		{"SSE_HEARTBEAT", c.SSEHeartbeat},
		{"TYPING_TTL", c.TypingTTL},
		{"TYPING_INTERVAL", c.TypingInterval},
		{"PRESENCE_HEARTBEAT", c.PresenceHeartbeat},
	}
	for _, p := range positive {
		if p.d <= 0 {
			bad(p.key, "must be positive, got %s", p.d)
		}
	}

	// Limits.
	if c.MaxText < 1 || c.MaxText > maxTextLimit {
		bad("MAX_TEXT", "must be between 1 and %d, got %d", maxTextLimit, c.MaxText)
	}
	if c.MaxBody < minBody || c.MaxBody > maxBody {
		bad("MAX_BODY", "must be between %d and %d, got %d", minBody, maxBody, c.MaxBody)
	}
	if c.MaxPerPage < 1 || c.MaxPerPage > maxPerPage {
		bad("MAX_PER_PAGE", "must be between 1 and %d, got %d", maxPerPage, c.MaxPerPage)
	}

	if c.EventLogMax < 10 || c.EventLogMax > 100000 {
		bad("EVENT_LOG_MAX", "must be between 10 and 100000, got %d", c.EventLogMax)
	}

	if c.PollingMaxPackets < 1 || c.PollingMaxPackets > 1000 {
		bad("POLLING_MAX_PACKETS", "must be between 1 and 1000, got %d", c.PollingMaxPackets)
	}

	if c.SendRate < 0 || c.SendRate > 10000 || c.SendRate != c.SendRate {
		bad("SEND_RATE", "must be between 0 and 10000, got %v", c.SendRate)
	}
	if c.SendBurst < 1 || c.SendBurst > 10000 {
		bad("SEND_BURST", "must be between 1 and 10000, got %d", c.SendBurst)
	}
	if c.WriteRate < 0 || c.WriteRate > 10000 || c.WriteRate != c.WriteRate {
		bad("WRITE_RATE", "must be between 0 and 10000, got %v", c.WriteRate)
	}
	if c.WriteBurst < 1 || c.WriteBurst > 10000 {
		bad("WRITE_BURST", "must be between 1 and 10000, got %d", c.WriteBurst)
	}
	if c.SocketAuthTimeout < 100*time.Millisecond || c.SocketAuthTimeout > time.Minute {
		bad("SOCKET_AUTH_TIMEOUT", "must be between 100ms and 1m, got %s", c.SocketAuthTimeout)
	}
	if c.MaxPendingSessions < 1 || c.MaxPendingSessions > 1_000_000 {
		bad("MAX_PENDING_SESSIONS", "must be between 1 and 1000000, got %d", c.MaxPendingSessions)
	}
	if c.MaxConnectionsPerUser < 1 || c.MaxConnectionsPerUser > 100_000 {
		bad("MAX_CONNECTIONS_PER_USER", "must be between 1 and 100000, got %d", c.MaxConnectionsPerUser)
	}
	if c.ConnQueueMax < 10 || c.ConnQueueMax > 1_000_000 {
		bad("CONN_QUEUE_MAX", "must be between 10 and 1000000, got %d", c.ConnQueueMax)
	}
	if c.ConnQueueBytes < 64<<10 || c.ConnQueueBytes > 1<<30 {
		bad("CONN_QUEUE_BYTES", "must be between 65536 and 1073741824, got %d", c.ConnQueueBytes)
	}
	if c.ConnWriteTimeout < 100*time.Millisecond || c.ConnWriteTimeout > 5*time.Minute {
		bad("CONN_WRITE_TIMEOUT", "must be between 100ms and 5m, got %s", c.ConnWriteTimeout)
	}
	if c.ClientIDWindow < time.Second || c.ClientIDWindow > 168*time.Hour {
		bad("CLIENT_ID_WINDOW", "must be between 1s and 168h, got %s", c.ClientIDWindow)
	}

	// Platform hooks.
	if c.HookBeforeSendURL != "" {
		if err := checkHTTPURL(c.HookBeforeSendURL); err != nil {
			bad("HOOK_BEFORE_SEND_URL", "%v", err)
		}
		if c.WebhookSecret == "" {
			bad("WEBHOOK_SECRET", "is required with %sHOOK_BEFORE_SEND_URL: every hook request is signed with it", Prefix)
		}
	}
	if c.HookTimeout < 10*time.Millisecond || c.HookTimeout > 30*time.Second {
		bad("HOOK_TIMEOUT", "must be between 10ms and 30s, got %s", c.HookTimeout)
	}
	c.validateWebhook(bad)

	// Logging.
	if !slices.Contains([]string{"text", "json"}, c.LogFormat) {
		bad("LOG_FORMAT", "must be text or json, got %q", c.LogFormat)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		bad("LOG_LEVEL", "must be debug, info, warn or error, got %q", c.LogLevel)
	}

	// Redis.
	c.validateRedis(bad)
	if len(c.KeyPrefix) > maxKeyPrefix {
		bad("KEY_PREFIX", "must be at most %d characters, got %d", maxKeyPrefix, len(c.KeyPrefix))
	}
	if strings.ContainsAny(c.KeyPrefix, keyPrefixChars) || strings.ContainsFunc(c.KeyPrefix, isControl) {
		bad("KEY_PREFIX", "%q must not contain spaces, control characters or any of *?[]{}", c.KeyPrefix)
	}

	return errors.Join(errs...)
}

// WebhookEvents lists the event types PARLEY_WEBHOOK_EVENTS may name.
func WebhookEvents() []string {
	return []string{"message.new", "message.edit", "message.delete", "message.read"}
}

// validateWebhook checks the PARLEY_WEBHOOK_* variables: a URL needs a
// secret (an unsigned webhook could be forged), and only known events.
func (c Config) validateWebhook(bad func(key, format string, args ...any)) {
	if c.WebhookURL != "" {
		if err := checkHTTPURL(c.WebhookURL); err != nil {
			bad("WEBHOOK_URL", "%v", err)
		}
		if c.WebhookSecret == "" {
			bad("WEBHOOK_SECRET", "is required with %sWEBHOOK_URL: every webhook is signed with it", Prefix)
		}
		if len(c.WebhookEvents) == 0 {
			bad("WEBHOOK_EVENTS", "must list at least one event (%s)", strings.Join(WebhookEvents(), ", "))
		}
	}
	if c.WebhookSecret != "" && len(c.WebhookSecret) < minSecretBytes {
		bad("WEBHOOK_SECRET", "must be at least %d bytes, got %d", minSecretBytes, len(c.WebhookSecret))
	}
	for _, e := range c.WebhookEvents {
		if !slices.Contains(WebhookEvents(), e) {
			bad("WEBHOOK_EVENTS", "unknown event %q (known: %s)", e, strings.Join(WebhookEvents(), ", "))
		}
	}
	if c.WebhookMaxAge < time.Minute || c.WebhookMaxAge > 168*time.Hour {
		bad("WEBHOOK_MAX_AGE", "must be between 1m and 168h, got %s", c.WebhookMaxAge)
	}
	if c.WebhookConcurrency < 1 || c.WebhookConcurrency > 1024 {
		bad("WEBHOOK_CONCURRENCY", "must be between 1 and 1024, got %d", c.WebhookConcurrency)
	}
	if c.WebhookTimeout < 100*time.Millisecond || c.WebhookTimeout > time.Minute {
		bad("WEBHOOK_TIMEOUT", "must be between 100ms and 1m, got %s", c.WebhookTimeout)
	}
}

// checkUserAPIURL requires an absolute http(s) URL with a host and an {id}
// placeholder.
func checkUserAPIURL(raw string) error {
	if !strings.Contains(raw, "{id}") {
		return errors.New(`must contain the placeholder "{id}"`)
	}
	return checkHTTPURL(strings.ReplaceAll(raw, "{id}", "0"))
}

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f
}

// checkHTTPURL requires an absolute http(s) URL with a host.
func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme must be http or https, got %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("must include a host")
	}
	return nil
}
