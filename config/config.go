package config

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v10"
)

// Prefix starts the name of every environment variable Parley reads.
const Prefix = "PARLEY_"

// Config is Parley's complete configuration. Each field's env tag (without
// Prefix), envDefault and desc tags are read by [Load] and [Variables].
type Config struct {
	HTTPAddr string `env:"HTTP_ADDR" envDefault:"" desc:"address the HTTP server listens on; empty = :8080, or 127.0.0.1:8080 with the embedded store (dev mode), which then serves only this machine"`
	RedisURL string `env:"REDIS_URL" envDefault:"" desc:"Redis URL, e.g. redis://localhost:6379/0; empty (and no cluster or sentinel addresses) = embedded in-memory store"`

	RedisClusterAddrs     []string      `env:"REDIS_CLUSTER_ADDRS" envDefault:"" desc:"comma-separated host:port seed nodes of a Redis Cluster; non-empty = cluster mode (excludes PARLEY_REDIS_URL and PARLEY_REDIS_SENTINEL_ADDRS)"`
	RedisSentinelAddrs    []string      `env:"REDIS_SENTINEL_ADDRS" envDefault:"" desc:"comma-separated host:port Sentinels; non-empty = Sentinel mode (needs PARLEY_REDIS_SENTINEL_MASTER; excludes PARLEY_REDIS_URL and PARLEY_REDIS_CLUSTER_ADDRS)"`
	RedisSentinelMaster   string        `env:"REDIS_SENTINEL_MASTER" envDefault:"" desc:"name of the primary the Sentinels monitor"`
	RedisSentinelPassword string        `env:"REDIS_SENTINEL_PASSWORD" envDefault:"" desc:"password of the Sentinels themselves (requirepass on sentinel); empty = none"`
	RedisUsername         string        `env:"REDIS_USERNAME" envDefault:"" desc:"Redis ACL user name for cluster and Sentinel mode, and for PARLEY_REDIS_URL when its URL has none"`
	RedisPassword         string        `env:"REDIS_PASSWORD" envDefault:"" desc:"Redis password for cluster and Sentinel mode, and for PARLEY_REDIS_URL when its URL has none"`
	RedisTLS              bool          `env:"REDIS_TLS" envDefault:"false" desc:"connect to Redis (every cluster node, the Sentinels and the primary) over TLS with the system roots; a rediss:// PARLEY_REDIS_URL turns it on too"`
	RedisWaitReplicas     int           `env:"REDIS_WAIT_REPLICAS" envDefault:"0" desc:"after every write step, WAIT until this many replicas acknowledged it, or answer 503 (the write happened on the primary; a retry with the same client_id is safe); 0 = off (0-16)"`
	RedisWaitTimeout      time.Duration `env:"REDIS_WAIT_TIMEOUT" envDefault:"500ms" desc:"how long a write waits for PARLEY_REDIS_WAIT_REPLICAS replicas (10ms-10s)"`

	JWTSecret        string        `env:"JWT_SECRET" envDefault:"" desc:"HMAC secret for HS* tokens (at least 16 bytes)"`
	JWTPublicKeyFile string        `env:"JWT_PUBLIC_KEY_FILE" envDefault:"" desc:"PEM public key or certificate file for RS*/PS*/ES*/EdDSA tokens"`
	JWTAlgorithms    []string      `env:"JWT_ALGORITHMS" envDefault:"HS256" desc:"comma-separated allowed JWT algorithms (HS256 HS384 HS512 RS256 RS384 RS512 PS256 ES256 ES384 EdDSA)"`
	JWTUserClaim     string        `env:"JWT_USER_CLAIM" envDefault:"user_id" desc:"JWT claim holding the user id; falls back to sub when absent"`
	JWTDomainClaim   string        `env:"JWT_DOMAIN_CLAIM" envDefault:"" desc:"JWT claim holding the domain handle; when set every token must carry it and it must name the request host's domain; empty = not used"`
	JWTDomainKeysDir string        `env:"JWT_DOMAIN_KEYS_DIR" envDefault:"" desc:"directory of per-domain keys: <handle>.key (HMAC secret) or <handle>.pem (public key); each domain's tokens verify only with its own key; replaces PARLEY_JWT_SECRET and PARLEY_JWT_PUBLIC_KEY_FILE"`
	JWTIssuer        string        `env:"JWT_ISSUER" envDefault:"" desc:"when set, tokens must carry this exact iss claim"`
	JWTAudience      string        `env:"JWT_AUDIENCE" envDefault:"" desc:"when set, tokens must carry this aud claim (or a list holding it)"`
	JWTRequireExp    bool          `env:"JWT_REQUIRE_EXP" envDefault:"true" desc:"reject JWTs without an exp claim"`
	JWTLeeway        time.Duration `env:"JWT_LEEWAY" envDefault:"30s" desc:"clock skew tolerated for exp, nbf and iat"`
	JWTCacheTTL      time.Duration `env:"JWT_CACHE_TTL" envDefault:"1m" desc:"a token that verified is answered again from what it verified to for at most this long (never past its exp plus the leeway; at most 8192 tokens of up to 2 KiB per key); 0 = verify every request"`

	Domains       map[string]string `env:"DOMAINS" envDefault:"" envKeyValSeparator:"=" desc:"host to domain handle map, host=handle,host=handle (case, port and a trailing dot are ignored); needs PARLEY_JWT_DOMAIN_CLAIM or PARLEY_JWT_DOMAIN_KEYS_DIR so that a token is bound to its domain"`
	DefaultDomain string            `env:"DEFAULT_DOMAIN" envDefault:"default" desc:"domain handle used when no PARLEY_DOMAINS host matches"`

	UserAPIURL     string        `env:"USER_API_URL" envDefault:"" desc:"user service URL template containing {id}, e.g. https://users.internal/api/users/{id}; empty = no user API: user objects fall back to {id, username: null, role: null}"`
	UserAPITimeout time.Duration `env:"USER_API_TIMEOUT" envDefault:"2s" desc:"timeout of one user service request"`
	UserAPIHeader  string        `env:"USER_API_HEADER" envDefault:"" desc:"extra header sent to the user service, \"Name: value\""`
	UserCacheTTL   time.Duration `env:"USER_CACHE_TTL" envDefault:"5m" desc:"how long user service answers are cached"`

	MaxText     int      `env:"MAX_TEXT" envDefault:"4000" desc:"maximum message text length (1-100000)"`
	MaxBody     int64    `env:"MAX_BODY" envDefault:"65536" desc:"maximum request body size in bytes (1024-10485760)"`
	MaxPerPage  int      `env:"MAX_PER_PAGE" envDefault:"100" desc:"maximum page size of list endpoints (1-1000)"`
	CORSOrigins []string `env:"CORS_ORIGINS" envDefault:"" desc:"comma-separated allowed CORS origins; * allows any; empty = same-origin only"`

	LogFormat string `env:"LOG_FORMAT" envDefault:"text" desc:"log format: text or json"`
	LogLevel  string `env:"LOG_LEVEL" envDefault:"info" desc:"log level: debug, info, warn or error"`

	NumericIDs      bool          `env:"NUMERIC_IDS" envDefault:"true" desc:"write user ids made only of digits (no leading zero, at most 15 digits) as JSON numbers, as the seed API did; false keeps every id a string"`
	KeyPrefix       string        `env:"KEY_PREFIX" envDefault:"parley:" desc:"prefix of every Redis key (at most 64 characters, no spaces or glob characters)"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s" desc:"grace period for in-flight requests on shutdown"`

	EventLogMax       int           `env:"EVENT_LOG_MAX" envDefault:"1000" desc:"events kept per user for reconnect replay (10-100000); older ones need a REST resync"`
	EventLogAge       time.Duration `env:"EVENT_LOG_AGE" envDefault:"24h" desc:"how long an event is kept for reconnect replay"`
	PollingMaxPackets int           `env:"POLLING_MAX_PACKETS" envDefault:"16" desc:"most packets in one Socket.IO long-polling response (1-1000); a longer replay or burst goes out over the next polls, for clients that refuse bigger payloads (python-engineio decodes at most 16)"`
	SSEHeartbeat      time.Duration `env:"SSE_HEARTBEAT" envDefault:"25s" desc:"interval of the comment line that keeps idle SSE streams open through proxies"`
	TypingTTL         time.Duration `env:"TYPING_TTL" envDefault:"5s" desc:"how long a typing indicator lasts after the last announcement"`
	TypingInterval    time.Duration `env:"TYPING_INTERVAL" envDefault:"1s" desc:"minimum gap between two typing events from one sender to one peer; announcements in between succeed silently"`
	PresenceHeartbeat time.Duration `env:"PRESENCE_HEARTBEAT" envDefault:"10s" desc:"presence heartbeat interval; a node silent for 3 heartbeats is dead and its users go offline"`
	MetricsAddr       string        `env:"METRICS_ADDR" envDefault:"127.0.0.1:9090" emptyDisables:"true" desc:"address of the Prometheus /metrics listener (and pprof); set it empty to turn it off"`
	PProf             bool          `env:"PPROF" envDefault:"false" desc:"serve net/http/pprof under /debug/pprof/ on PARLEY_METRICS_ADDR"`

	SendRate       float64       `env:"SEND_RATE" envDefault:"10" desc:"messages per second one user may send, across all nodes (0-10000; 0 turns the limit off)"`
	SendBurst      int           `env:"SEND_BURST" envDefault:"20" desc:"messages one user may send at once before PARLEY_SEND_RATE applies (1-10000)"`
	WriteRate      float64       `env:"WRITE_RATE" envDefault:"10" desc:"other writes per second one user may make toward others (edits, seen, read receipts, typing events, deletes), across all nodes (0-10000; 0 turns the limit off)"`
	WriteBurst     int           `env:"WRITE_BURST" envDefault:"50" desc:"such writes one user may make at once before PARLEY_WRITE_RATE applies (1-10000)"`
	ClientIDWindow time.Duration `env:"CLIENT_ID_WINDOW" envDefault:"24h" desc:"how long a send's client_id is remembered, so a retry returns the first message (1s-168h)"`
	AdminClaim     string        `env:"ADMIN_CLAIM" envDefault:"role" desc:"JWT claim that marks platform admins, who may delete any message of their domain; empty = no admins"`
	AdminValue     string        `env:"ADMIN_VALUE" envDefault:"admin" desc:"value of PARLEY_ADMIN_CLAIM (or an element of it, when it is a list) that marks an admin"`

	// Transport limits, per node.
	SocketAuthTimeout     time.Duration `env:"SOCKET_AUTH_TIMEOUT" envDefault:"5s" desc:"a new Socket.IO session that has not completed its CONNECT with a valid token within this time is closed (100ms-1m)"`
	LegacySockets         bool          `env:"LEGACY_SOCKETS" envDefault:"false" desc:"accept the seed's Socket.IO clients (socket.io-client 1.x/2.x, Engine.IO v3): connect without a token, emit authenticate {token} within 15s, receive new-message; off: such clients are refused with 400"`
	MaxPendingSessions    int           `env:"MAX_PENDING_SESSIONS" envDefault:"1000" desc:"Socket.IO sessions per node that have not authenticated yet; a handshake beyond it is refused with 503 (1-1000000)"`
	MaxConnectionsPerUser int           `env:"MAX_CONNECTIONS_PER_USER" envDefault:"32" desc:"sockets and SSE streams one user may hold open on one node together; the next is refused with TOO_MANY_CONNECTIONS (1-100000)"`
	// Slow consumers: what one connection may have queued and not yet
	// written, and how long it may stay full (a socket) or block a write
	// (an SSE stream) before it is closed.
	ConnQueueMax     int           `env:"CONN_QUEUE_MAX" envDefault:"1000" desc:"packets one socket may have queued and not yet written to the network; delivery waits while it is full (10-1000000)"`
	ConnQueueBytes   int64         `env:"CONN_QUEUE_BYTES" envDefault:"1048576" desc:"bytes one socket may have queued and not yet written to the network; delivery waits while it is full (65536-1073741824)"`
	ConnWriteTimeout time.Duration `env:"CONN_WRITE_TIMEOUT" envDefault:"10s" desc:"a socket whose queue stays full, or an SSE stream whose write blocks, this long is closed as a slow consumer; it reconnects with its last event id and loses nothing (100ms-5m)"`

	// Platform hooks (README, Webhooks and moderation hooks): event
	// webhooks (package webhook) and the before-send hook.
	WebhookURL         string        `env:"WEBHOOK_URL" envDefault:"" desc:"URL the event webhooks are POSTed to (http or https); empty = no event webhooks"`
	WebhookSecret      string        `env:"WEBHOOK_SECRET" envDefault:"" desc:"HMAC-SHA256 secret every request to the platform is signed with (X-Parley-Signature: webhooks and the before-send hook; at least 16 bytes); required with PARLEY_WEBHOOK_URL or PARLEY_HOOK_BEFORE_SEND_URL"`
	WebhookEvents      []string      `env:"WEBHOOK_EVENTS" envDefault:"message.new" desc:"comma-separated events sent: message.new, message.edit, message.delete, message.read"`
	WebhookOfflineOnly bool          `env:"WEBHOOK_OFFLINE_ONLY" envDefault:"true" desc:"send a webhook only for recipients who are offline; false sends them all, with online set"`
	WebhookMaxAge      time.Duration `env:"WEBHOOK_MAX_AGE" envDefault:"24h" desc:"how long a webhook is retried before it is dead-lettered; also how long its id is remembered against duplicates (1m-168h)"`
	WebhookTimeout     time.Duration `env:"WEBHOOK_TIMEOUT" envDefault:"5s" desc:"timeout of one webhook request (100ms-1m)"`
	WebhookConcurrency int           `env:"WEBHOOK_CONCURRENCY" envDefault:"32" desc:"webhook requests one node keeps in flight at most (1-1024): a node delivers up to this many per request round trip of the platform"`
	HookBeforeSendURL  string        `env:"HOOK_BEFORE_SEND_URL" envDefault:"" desc:"http(s) URL Parley POSTs every new message and text edit to before storing it; the platform answers allow, reject or replace; empty = no before-send hook"`
	HookTimeout        time.Duration `env:"HOOK_TIMEOUT" envDefault:"1s" desc:"how long Parley waits for the before-send hook's answer (10ms-30s)"`
	HookFailOpen       bool          `env:"HOOK_FAIL_OPEN" envDefault:"true" desc:"what a failed before-send hook (timeout, error, non-2xx, unusable answer) means: true = store the message as sent, false = refuse it with 503 MODERATION_UNAVAILABLE"`
}

// Load reads the configuration from environ, or from the process
// environment when environ is nil, applies defaults and validates the
// result. Every error names the offending PARLEY_* variable; several
// problems are joined into one error.
func Load(environ map[string]string) (Config, error) {
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Prefix: Prefix, Environment: environ}); err != nil {
		return Config{}, parseError(err)
	}
	c.applyExplicitEmpty(environ)
	domains, err := parseDomains(lookup(environ, Prefix+"DOMAINS"))
	if err != nil {
		return Config{}, err
	}
	c.Domains = domains
	c.normalize()
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Embedded reports whether Parley runs on its embedded in-memory store
// (no PARLEY_REDIS_URL, no cluster and no Sentinel addresses).
func (c Config) Embedded() bool {
	return c.RedisURL == "" && len(c.RedisClusterAddrs) == 0 && len(c.RedisSentinelAddrs) == 0
}

// RedisMode is how Parley reaches Redis.
type RedisMode string

const (
	RedisEmbedded RedisMode = "embedded" // in-process store, one node
	RedisSingle   RedisMode = "single"   // PARLEY_REDIS_URL
	RedisCluster  RedisMode = "cluster"  // PARLEY_REDIS_CLUSTER_ADDRS
	RedisSentinel RedisMode = "sentinel" // PARLEY_REDIS_SENTINEL_ADDRS
)

// RedisMode returns the mode the Redis variables select (Load refuses
// more than one).
func (c Config) RedisMode() RedisMode {
	switch {
	case len(c.RedisClusterAddrs) > 0:
		return RedisCluster
	case len(c.RedisSentinelAddrs) > 0:
		return RedisSentinel
	case c.RedisURL != "":
		return RedisSingle
	}
	return RedisEmbedded
}

// LogLevelValue returns LogLevel as a slog.Level (info when unknown; Load
// rejects unknown levels).
func (c Config) LogLevelValue() slog.Level {
	switch c.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// UserAPIHeaderField splits UserAPIHeader into a header name and value;
// both are "" when it is unset.
func (c Config) UserAPIHeaderField() (name, value string) {
	name, value, _ = strings.Cut(c.UserAPIHeader, ":")
	return strings.TrimSpace(name), strings.TrimSpace(value)
}

// DevHTTPAddr is where the embedded store (dev mode) listens when
// PARLEY_HTTP_ADDR is unset: this machine only.
const DevHTTPAddr = "127.0.0.1:8080"

// normalize trims list entries and resolves the listen address, so that
// validation and consumers see canonical values.
func (c *Config) normalize() {
	c.JWTAlgorithms = trimList(c.JWTAlgorithms)
	c.CORSOrigins = trimList(c.CORSOrigins)
	c.RedisClusterAddrs = trimList(c.RedisClusterAddrs)
	c.RedisSentinelAddrs = trimList(c.RedisSentinelAddrs)
	c.RedisSentinelMaster = strings.TrimSpace(c.RedisSentinelMaster)
	c.WebhookEvents = trimList(c.WebhookEvents)
	c.WebhookURL = strings.TrimSpace(c.WebhookURL)
	if c.Domains == nil {
		c.Domains = map[string]string{}
	}
	if strings.TrimSpace(c.HTTPAddr) == "" {
		c.HTTPAddr = ":8080"
		if c.Embedded() {
			c.HTTPAddr = DevHTTPAddr
		}
	}
}

// trimList trims every entry and drops empty ones; it returns nil for an
// empty result.
func trimList(in []string) []string {
	var out []string
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseError rewrites env's errors, which name Go fields, so that each
// names its PARLEY_* variable instead.
func parseError(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("config: %w", err)
	}
	errs := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			errs = append(errs, fmt.Errorf("%s: invalid value: %w", varName(pe.Name), pe.Err))
			continue
		}
		errs = append(errs, fmt.Errorf("config: %w", e))
	}
	return errors.Join(errs...)
}

// varName returns the PARLEY_* variable of the Config field named field.
func varName(field string) string {
	f, ok := reflect.TypeFor[Config]().FieldByName(field)
	if !ok {
		return field
	}
	return Prefix + envKey(f)
}

// envKey returns the env tag of f without its options.
func envKey(f reflect.StructField) string {
	key, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	return key
}
