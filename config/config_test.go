package config_test

import (
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"parley/config"
)

func TestLoadDefaults(t *testing.T) {
	got, err := config.Load(map[string]string{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := config.Config{
		HTTPAddr:          "127.0.0.1:8080",
		JWTAlgorithms:     []string{"HS256"},
		JWTUserClaim:      "user_id",
		JWTRequireExp:     true,
		JWTLeeway:         30 * time.Second,
		JWTCacheTTL:       time.Minute,
		Domains:           map[string]string{},
		DefaultDomain:     "default",
		UserAPITimeout:    2 * time.Second,
		UserCacheTTL:      5 * time.Minute,
		MaxText:           4000,
		MaxBody:           65536,
		MaxPerPage:        100,
		LogFormat:         "text",
		LogLevel:          "info",
		NumericIDs:        true,
		KeyPrefix:         "parley:",
		ShutdownTimeout:   15 * time.Second,
		EventLogMax:       1000,
		EventLogAge:       24 * time.Hour,
		PollingMaxPackets: 16,
		SSEHeartbeat:      25 * time.Second,
		TypingTTL:         5 * time.Second,
		TypingInterval:    time.Second,
		PresenceHeartbeat: 10 * time.Second,
		MetricsAddr:       "127.0.0.1:9090",
		SendRate:          10,
		SendBurst:         20,
		WriteRate:         10,
		WriteBurst:        50,
		ClientIDWindow:    24 * time.Hour,
		AdminClaim:        "role",
		AdminValue:        "admin",

		SocketAuthTimeout:     5 * time.Second,
		MaxPendingSessions:    1000,
		MaxConnectionsPerUser: 32,
		ConnQueueMax:          1000,
		ConnQueueBytes:        1 << 20,
		ConnWriteTimeout:      10 * time.Second,
		RedisWaitTimeout:      500 * time.Millisecond,
		HookTimeout:           time.Second,
		HookFailOpen:          true,
		WebhookEvents:         []string{"message.new"},
		WebhookOfflineOnly:    true,
		WebhookMaxAge:         24 * time.Hour,
		WebhookTimeout:        5 * time.Second,
		WebhookConcurrency:    32,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(empty) =\n%+v\nwant\n%+v", got, want)
	}
	if !got.Embedded() {
		t.Errorf("Embedded() = false, want true")
	}
	if got, want := got.LogLevelValue(), slog.LevelInfo; got != want {
		t.Errorf("LogLevelValue() = %v, want %v", got, want)
	}
}

func TestLoadOverrides(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(c config.Config) (got, want any)
	}{
		{"HTTP_ADDR", map[string]string{"PARLEY_HTTP_ADDR": "127.0.0.1:9000"},
			func(c config.Config) (any, any) { return c.HTTPAddr, "127.0.0.1:9000" }},
		{"REDIS_URL", map[string]string{"PARLEY_REDIS_URL": "redis://localhost:6379/2"},
			func(c config.Config) (any, any) { return c.RedisURL, "redis://localhost:6379/2" }},
		{"REDIS_URL disables embedded", map[string]string{"PARLEY_REDIS_URL": "redis://localhost:6379/2"},
			func(c config.Config) (any, any) { return c.Embedded(), false }},
		{"JWT_SECRET", map[string]string{"PARLEY_JWT_SECRET": "0123456789abcdef"},
			func(c config.Config) (any, any) { return c.JWTSecret, "0123456789abcdef" }},
		{"JWT_PUBLIC_KEY_FILE", map[string]string{"PARLEY_JWT_PUBLIC_KEY_FILE": "/etc/parley/jwt.pem", "PARLEY_JWT_ALGORITHMS": "RS256"},
			func(c config.Config) (any, any) { return c.JWTPublicKeyFile, "/etc/parley/jwt.pem" }},
		{"JWT_ALGORITHMS", map[string]string{"PARLEY_JWT_ALGORITHMS": "RS256, PS256,"},
			func(c config.Config) (any, any) { return c.JWTAlgorithms, []string{"RS256", "PS256"} }},
		{"JWT_USER_CLAIM", map[string]string{"PARLEY_JWT_USER_CLAIM": "uid"},
			func(c config.Config) (any, any) { return c.JWTUserClaim, "uid" }},
		{"JWT_DOMAIN_CLAIM", map[string]string{"PARLEY_JWT_DOMAIN_CLAIM": "tenant"},
			func(c config.Config) (any, any) { return c.JWTDomainClaim, "tenant" }},
		{"JWT_REQUIRE_EXP", map[string]string{"PARLEY_JWT_REQUIRE_EXP": "false"},
			func(c config.Config) (any, any) { return c.JWTRequireExp, false }},
		{"JWT_LEEWAY", map[string]string{"PARLEY_JWT_LEEWAY": "1m"},
			func(c config.Config) (any, any) { return c.JWTLeeway, time.Minute }},
		{"JWT_LEEWAY zero", map[string]string{"PARLEY_JWT_LEEWAY": "0s"},
			func(c config.Config) (any, any) { return c.JWTLeeway, time.Duration(0) }},
		{"JWT_CACHE_TTL off", map[string]string{"PARLEY_JWT_CACHE_TTL": "0s"},
			func(c config.Config) (any, any) { return c.JWTCacheTTL, time.Duration(0) }},
		{"DEFAULT_DOMAIN", map[string]string{"PARLEY_DEFAULT_DOMAIN": "acme_1"},
			func(c config.Config) (any, any) { return c.DefaultDomain, "acme_1" }},
		{"USER_API_URL", map[string]string{"PARLEY_USER_API_URL": "https://users.example.com/api/users/{id}"},
			func(c config.Config) (any, any) { return c.UserAPIURL, "https://users.example.com/api/users/{id}" }},
		{"USER_API_TIMEOUT", map[string]string{"PARLEY_USER_API_TIMEOUT": "500ms"},
			func(c config.Config) (any, any) { return c.UserAPITimeout, 500 * time.Millisecond }},
		{"USER_API_HEADER", map[string]string{"PARLEY_USER_API_HEADER": "Authorization: Bearer xyz"},
			func(c config.Config) (any, any) { return c.UserAPIHeader, "Authorization: Bearer xyz" }},
		{"USER_API_HEADER split", map[string]string{"PARLEY_USER_API_HEADER": "X-Api-Key:  k:1 "},
			func(c config.Config) (any, any) {
				n, v := c.UserAPIHeaderField()
				return [2]string{n, v}, [2]string{"X-Api-Key", "k:1"}
			}},
		{"USER_CACHE_TTL", map[string]string{"PARLEY_USER_CACHE_TTL": "1h"},
			func(c config.Config) (any, any) { return c.UserCacheTTL, time.Hour }},
		{"MAX_TEXT", map[string]string{"PARLEY_MAX_TEXT": "100000"},
			func(c config.Config) (any, any) { return c.MaxText, 100000 }},
		{"MAX_BODY", map[string]string{"PARLEY_MAX_BODY": "1024"},
			func(c config.Config) (any, any) { return c.MaxBody, int64(1024) }},
		{"MAX_PER_PAGE", map[string]string{"PARLEY_MAX_PER_PAGE": "1000"},
			func(c config.Config) (any, any) { return c.MaxPerPage, 1000 }},
		{"CORS_ORIGINS", map[string]string{"PARLEY_CORS_ORIGINS": "https://a.example, https://b.example"},
			func(c config.Config) (any, any) {
				return c.CORSOrigins, []string{"https://a.example", "https://b.example"}
			}},
		{"CORS_ORIGINS wildcard", map[string]string{"PARLEY_CORS_ORIGINS": "*"},
			func(c config.Config) (any, any) { return c.CORSOrigins, []string{"*"} }},
		{"LOG_FORMAT", map[string]string{"PARLEY_LOG_FORMAT": "json"},
			func(c config.Config) (any, any) { return c.LogFormat, "json" }},
		{"LOG_LEVEL debug", map[string]string{"PARLEY_LOG_LEVEL": "debug"},
			func(c config.Config) (any, any) { return c.LogLevelValue(), slog.LevelDebug }},
		{"LOG_LEVEL warn", map[string]string{"PARLEY_LOG_LEVEL": "warn"},
			func(c config.Config) (any, any) { return c.LogLevelValue(), slog.LevelWarn }},
		{"LOG_LEVEL error", map[string]string{"PARLEY_LOG_LEVEL": "error"},
			func(c config.Config) (any, any) { return c.LogLevelValue(), slog.LevelError }},
		{"NUMERIC_IDS", map[string]string{"PARLEY_NUMERIC_IDS": "false"},
			func(c config.Config) (any, any) { return c.NumericIDs, false }},
		{"KEY_PREFIX", map[string]string{"PARLEY_KEY_PREFIX": "test:abc:"},
			func(c config.Config) (any, any) { return c.KeyPrefix, "test:abc:" }},
		{"SHUTDOWN_TIMEOUT", map[string]string{"PARLEY_SHUTDOWN_TIMEOUT": "1s"},
			func(c config.Config) (any, any) { return c.ShutdownTimeout, time.Second }},
		{"unprefixed variables are ignored", map[string]string{"MAX_TEXT": "abc", "HTTP_ADDR": ":1"},
			func(c config.Config) (any, any) { return c.HTTPAddr, config.DevHTTPAddr }},
		{"empty value means default", map[string]string{"PARLEY_MAX_TEXT": ""},
			func(c config.Config) (any, any) { return c.MaxText, 4000 }},
		{"METRICS_ADDR", map[string]string{"PARLEY_METRICS_ADDR": ":9100"},
			func(c config.Config) (any, any) { return c.MetricsAddr, ":9100" }},
		{"METRICS_ADDR empty turns metrics off", map[string]string{"PARLEY_METRICS_ADDR": ""},
			func(c config.Config) (any, any) { return c.MetricsAddr, "" }},
		{"PPROF", map[string]string{"PARLEY_PPROF": "true"},
			func(c config.Config) (any, any) { return c.PProf, true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(tt.env)
			if err != nil {
				t.Fatalf("Load(%v): %v", tt.env, err)
			}
			if got, want := tt.check(c); !reflect.DeepEqual(got, want) {
				t.Errorf("Load(%v): got %v, want %v", tt.env, got, want)
			}
		})
	}
}

func TestLoadDomains(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    map[string]string
		wantErr bool
	}{
		{name: "unset", value: "", want: map[string]string{}},
		{name: "one", value: "chat.example.com=acme", want: map[string]string{"chat.example.com": "acme"}},
		{name: "several", value: "a.example=one,b.example:8080=two_2",
			want: map[string]string{"a.example": "one", "b.example": "two_2"}},
		{name: "hosts lower-cased and trimmed", value: "Chat.Example.COM = acme , b.example=b",
			want: map[string]string{"chat.example.com": "acme", "b.example": "b"}},
		{name: "missing separator", value: "chat.example.com", wantErr: true},
		{name: "colon is not the separator", value: "chat.example.com:acme", wantErr: true},
		{name: "two separators", value: "a=b=c", wantErr: true},
		{name: "trailing comma", value: "a.example=one,", wantErr: true},
		{name: "empty host", value: "=acme", wantErr: true},
		{name: "bad handle", value: "a.example=Acme", wantErr: true},
		{name: "empty handle", value: "a.example=", wantErr: true},
		{name: "long handle", value: "a.example=" + strings.Repeat("a", 33), wantErr: true},
		{name: "host differing only in case", value: "a.example=one,A.example=two", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(map[string]string{"PARLEY_DOMAINS": tt.value, "PARLEY_JWT_DOMAIN_CLAIM": "dom"})
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "PARLEY_DOMAINS") {
					t.Fatalf("Load error = %v, want one naming PARLEY_DOMAINS", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := c.Domains; !maps.Equal(got, tt.want) {
				t.Errorf("Domains = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
	}{
		{"MAX_TEXT not a number", map[string]string{"PARLEY_MAX_TEXT": "abc"}, "PARLEY_MAX_TEXT"},
		{"MAX_TEXT zero", map[string]string{"PARLEY_MAX_TEXT": "0"}, "PARLEY_MAX_TEXT"},
		{"MAX_TEXT too large", map[string]string{"PARLEY_MAX_TEXT": "100001"}, "PARLEY_MAX_TEXT"},
		{"MAX_BODY not a number", map[string]string{"PARLEY_MAX_BODY": "64k"}, "PARLEY_MAX_BODY"},
		{"MAX_BODY too small", map[string]string{"PARLEY_MAX_BODY": "1023"}, "PARLEY_MAX_BODY"},
		{"MAX_BODY too large", map[string]string{"PARLEY_MAX_BODY": "10485761"}, "PARLEY_MAX_BODY"},
		{"MAX_PER_PAGE zero", map[string]string{"PARLEY_MAX_PER_PAGE": "0"}, "PARLEY_MAX_PER_PAGE"},
		{"MAX_PER_PAGE too large", map[string]string{"PARLEY_MAX_PER_PAGE": "1001"}, "PARLEY_MAX_PER_PAGE"},
		{"JWT_REQUIRE_EXP not a bool", map[string]string{"PARLEY_JWT_REQUIRE_EXP": "maybe"}, "PARLEY_JWT_REQUIRE_EXP"},
		{"NUMERIC_IDS not a bool", map[string]string{"PARLEY_NUMERIC_IDS": "yes please"}, "PARLEY_NUMERIC_IDS"},
		{"JWT_LEEWAY not a duration", map[string]string{"PARLEY_JWT_LEEWAY": "30"}, "PARLEY_JWT_LEEWAY"},
		{"JWT_LEEWAY negative", map[string]string{"PARLEY_JWT_LEEWAY": "-1s"}, "PARLEY_JWT_LEEWAY"},
		{"JWT_CACHE_TTL negative", map[string]string{"PARLEY_JWT_CACHE_TTL": "-1s"}, "PARLEY_JWT_CACHE_TTL"},
		{"USER_API_TIMEOUT zero", map[string]string{"PARLEY_USER_API_TIMEOUT": "0s"}, "PARLEY_USER_API_TIMEOUT"},
		{"USER_API_TIMEOUT garbage", map[string]string{"PARLEY_USER_API_TIMEOUT": "soon"}, "PARLEY_USER_API_TIMEOUT"},
		{"USER_CACHE_TTL negative", map[string]string{"PARLEY_USER_CACHE_TTL": "-5m"}, "PARLEY_USER_CACHE_TTL"},
		{"SHUTDOWN_TIMEOUT zero", map[string]string{"PARLEY_SHUTDOWN_TIMEOUT": "0"}, "PARLEY_SHUTDOWN_TIMEOUT"},
		{"EVENT_LOG_MAX too small", map[string]string{"PARLEY_EVENT_LOG_MAX": "9"}, "PARLEY_EVENT_LOG_MAX"},
		{"SEND_RATE negative", map[string]string{"PARLEY_SEND_RATE": "-1"}, "PARLEY_SEND_RATE"},
		{"SEND_BURST zero", map[string]string{"PARLEY_SEND_BURST": "0"}, "PARLEY_SEND_BURST"},
		{"WRITE_RATE negative", map[string]string{"PARLEY_WRITE_RATE": "-1"}, "PARLEY_WRITE_RATE"},
		{"WRITE_RATE NaN", map[string]string{"PARLEY_WRITE_RATE": "NaN"}, "PARLEY_WRITE_RATE"},
		{"WRITE_BURST zero", map[string]string{"PARLEY_WRITE_BURST": "0"}, "PARLEY_WRITE_BURST"},
		{"WRITE_BURST too big", map[string]string{"PARLEY_WRITE_BURST": "10001"}, "PARLEY_WRITE_BURST"},
		{"POLLING_MAX_PACKETS zero", map[string]string{"PARLEY_POLLING_MAX_PACKETS": "0"}, "PARLEY_POLLING_MAX_PACKETS"},
		{"POLLING_MAX_PACKETS too big", map[string]string{"PARLEY_POLLING_MAX_PACKETS": "1001"}, "PARLEY_POLLING_MAX_PACKETS"},
		{"CLIENT_ID_WINDOW too short", map[string]string{"PARLEY_CLIENT_ID_WINDOW": "10ms"}, "PARLEY_CLIENT_ID_WINDOW"},
		{"SOCKET_AUTH_TIMEOUT too short", map[string]string{"PARLEY_SOCKET_AUTH_TIMEOUT": "10ms"}, "PARLEY_SOCKET_AUTH_TIMEOUT"},
		{"SOCKET_AUTH_TIMEOUT too long", map[string]string{"PARLEY_SOCKET_AUTH_TIMEOUT": "2m"}, "PARLEY_SOCKET_AUTH_TIMEOUT"},
		{"MAX_PENDING_SESSIONS zero", map[string]string{"PARLEY_MAX_PENDING_SESSIONS": "0"}, "PARLEY_MAX_PENDING_SESSIONS"},
		{"MAX_CONNECTIONS_PER_USER zero", map[string]string{"PARLEY_MAX_CONNECTIONS_PER_USER": "0"}, "PARLEY_MAX_CONNECTIONS_PER_USER"},
		{"MAX_CONNECTIONS_PER_USER too big", map[string]string{"PARLEY_MAX_CONNECTIONS_PER_USER": "100001"}, "PARLEY_MAX_CONNECTIONS_PER_USER"},
		{"CONN_QUEUE_MAX too small", map[string]string{"PARLEY_CONN_QUEUE_MAX": "9"}, "PARLEY_CONN_QUEUE_MAX"},
		{"CONN_QUEUE_BYTES too small", map[string]string{"PARLEY_CONN_QUEUE_BYTES": "65535"}, "PARLEY_CONN_QUEUE_BYTES"},
		{"CONN_QUEUE_BYTES too big", map[string]string{"PARLEY_CONN_QUEUE_BYTES": "1073741825"}, "PARLEY_CONN_QUEUE_BYTES"},
		{"CONN_WRITE_TIMEOUT too short", map[string]string{"PARLEY_CONN_WRITE_TIMEOUT": "10ms"}, "PARLEY_CONN_WRITE_TIMEOUT"},
		{"CONN_WRITE_TIMEOUT too long", map[string]string{"PARLEY_CONN_WRITE_TIMEOUT": "6m"}, "PARLEY_CONN_WRITE_TIMEOUT"},
		{"EVENT_LOG_AGE zero", map[string]string{"PARLEY_EVENT_LOG_AGE": "0s"}, "PARLEY_EVENT_LOG_AGE"},
		{"SSE_HEARTBEAT negative", map[string]string{"PARLEY_SSE_HEARTBEAT": "-1s"}, "PARLEY_SSE_HEARTBEAT"},
		{"TYPING_TTL zero", map[string]string{"PARLEY_TYPING_TTL": "0s"}, "PARLEY_TYPING_TTL"},
		{"TYPING_INTERVAL negative", map[string]string{"PARLEY_TYPING_INTERVAL": "-1s"}, "PARLEY_TYPING_INTERVAL"},
		{"PRESENCE_HEARTBEAT zero", map[string]string{"PARLEY_PRESENCE_HEARTBEAT": "0s"}, "PARLEY_PRESENCE_HEARTBEAT"},
		{"JWT_ALGORITHMS unknown", map[string]string{"PARLEY_JWT_ALGORITHMS": "HS256,XS999"}, "PARLEY_JWT_ALGORITHMS"},
		{"METRICS_ADDR without port", map[string]string{"PARLEY_METRICS_ADDR": "localhost"}, "PARLEY_METRICS_ADDR"},
		{"PPROF without metrics listener", map[string]string{"PARLEY_PPROF": "true", "PARLEY_METRICS_ADDR": ""}, "PARLEY_PPROF"},
		{"PPROF not a bool", map[string]string{"PARLEY_PPROF": "sure"}, "PARLEY_PPROF"},
		{"JWT_ALGORITHMS none", map[string]string{"PARLEY_JWT_ALGORITHMS": "none"}, "PARLEY_JWT_ALGORITHMS"},
		{"JWT_ALGORITHMS only commas", map[string]string{"PARLEY_JWT_ALGORITHMS": ", ,"}, "PARLEY_JWT_ALGORITHMS"},
		{"JWT_ALGORITHMS mixed", map[string]string{"PARLEY_JWT_ALGORITHMS": "HS256,RS256"}, "PARLEY_JWT_ALGORITHMS"},
		{"JWT_SECRET and JWT_PUBLIC_KEY_FILE", map[string]string{"PARLEY_JWT_SECRET": "0123456789abcdef", "PARLEY_JWT_PUBLIC_KEY_FILE": "/k.pem"}, "PARLEY_JWT_PUBLIC_KEY_FILE"},
		{"JWT_SECRET too short", map[string]string{"PARLEY_JWT_SECRET": "short"}, "PARLEY_JWT_SECRET"},
		{"JWT_SECRET with asymmetric algorithms", map[string]string{"PARLEY_JWT_SECRET": "0123456789abcdef", "PARLEY_JWT_ALGORITHMS": "RS256"}, "PARLEY_JWT_SECRET"},
		{"JWT_PUBLIC_KEY_FILE with HMAC algorithms", map[string]string{"PARLEY_JWT_PUBLIC_KEY_FILE": "/k.pem"}, "PARLEY_JWT_PUBLIC_KEY_FILE"},
		{"JWT_USER_CLAIM blank", map[string]string{"PARLEY_JWT_USER_CLAIM": " "}, "PARLEY_JWT_USER_CLAIM"},
		{"DEFAULT_DOMAIN upper case", map[string]string{"PARLEY_DEFAULT_DOMAIN": "Default"}, "PARLEY_DEFAULT_DOMAIN"},
		{"DEFAULT_DOMAIN too long", map[string]string{"PARLEY_DEFAULT_DOMAIN": strings.Repeat("d", 33)}, "PARLEY_DEFAULT_DOMAIN"},
		{"DEFAULT_DOMAIN dot", map[string]string{"PARLEY_DEFAULT_DOMAIN": "a.b"}, "PARLEY_DEFAULT_DOMAIN"},
		{"DOMAINS bad handle", map[string]string{"PARLEY_DOMAINS": "a.example=a b"}, "PARLEY_DOMAINS"},
		{"USER_API_URL without placeholder", map[string]string{"PARLEY_USER_API_URL": "https://users.example.com/api/users"}, "PARLEY_USER_API_URL"},
		{"USER_API_URL ftp", map[string]string{"PARLEY_USER_API_URL": "ftp://users.example.com/{id}"}, "PARLEY_USER_API_URL"},
		{"USER_API_URL relative", map[string]string{"PARLEY_USER_API_URL": "/users/{id}"}, "PARLEY_USER_API_URL"},
		{"USER_API_URL no host", map[string]string{"PARLEY_USER_API_URL": "http:///users/{id}"}, "PARLEY_USER_API_URL"},
		{"USER_API_HEADER no colon", map[string]string{"PARLEY_USER_API_HEADER": "Authorization Bearer xyz"}, "PARLEY_USER_API_HEADER"},
		{"USER_API_HEADER no name", map[string]string{"PARLEY_USER_API_HEADER": ": xyz"}, "PARLEY_USER_API_HEADER"},
		{"USER_API_HEADER no value", map[string]string{"PARLEY_USER_API_HEADER": "X-Key:  "}, "PARLEY_USER_API_HEADER"},
		{"USER_API_HEADER space in name", map[string]string{"PARLEY_USER_API_HEADER": "X Key: v"}, "PARLEY_USER_API_HEADER"},
		{"LOG_FORMAT", map[string]string{"PARLEY_LOG_FORMAT": "xml"}, "PARLEY_LOG_FORMAT"},
		{"LOG_LEVEL", map[string]string{"PARLEY_LOG_LEVEL": "trace"}, "PARLEY_LOG_LEVEL"},
		{"LOG_LEVEL upper case", map[string]string{"PARLEY_LOG_LEVEL": "INFO"}, "PARLEY_LOG_LEVEL"},
		{"KEY_PREFIX space", map[string]string{"PARLEY_KEY_PREFIX": "par ley:"}, "PARLEY_KEY_PREFIX"},
		{"KEY_PREFIX star", map[string]string{"PARLEY_KEY_PREFIX": "parley*"}, "PARLEY_KEY_PREFIX"},
		{"KEY_PREFIX question mark", map[string]string{"PARLEY_KEY_PREFIX": "p?"}, "PARLEY_KEY_PREFIX"},
		{"KEY_PREFIX brackets", map[string]string{"PARLEY_KEY_PREFIX": "p[1]"}, "PARLEY_KEY_PREFIX"},
		{"KEY_PREFIX braces", map[string]string{"PARLEY_KEY_PREFIX": "{p}"}, "PARLEY_KEY_PREFIX"},
		{"KEY_PREFIX too long", map[string]string{"PARLEY_KEY_PREFIX": strings.Repeat("k", 65)}, "PARLEY_KEY_PREFIX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(tt.env)
			if err == nil {
				t.Fatalf("Load(%v) = %+v, want an error naming %s", tt.env, c, tt.wantVar)
			}
			if !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("Load(%v) error = %q, want it to name %s", tt.env, err, tt.wantVar)
			}
			if !reflect.DeepEqual(c, config.Config{}) {
				t.Errorf("Load(%v) config = %+v, want zero on error", tt.env, c)
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := config.Load(map[string]string{
		"PARLEY_MAX_TEXT":  "0",
		"PARLEY_LOG_LEVEL": "loud",
	})
	if err == nil {
		t.Fatal("Load: got nil error, want one")
	}
	for _, want := range []string{"PARLEY_MAX_TEXT", "PARLEY_LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Load error = %q, want it to name %s", err, want)
		}
	}
}

func TestLoadNilUsesProcessEnv(t *testing.T) {
	t.Setenv("PARLEY_HTTP_ADDR", ":7070")
	c, err := config.Load(nil)
	if err != nil {
		t.Fatalf("Load(nil): %v", err)
	}
	if got, want := c.HTTPAddr, ":7070"; got != want {
		t.Errorf("HTTPAddr = %q, want %q", got, want)
	}
}

func TestVariables(t *testing.T) {
	vars := config.Variables()
	byName := make(map[string]config.Var, len(vars))
	for _, v := range vars {
		if _, dup := byName[v.Name]; dup {
			t.Errorf("Variables() lists %s twice", v.Name)
		}
		byName[v.Name] = v
		if !strings.HasPrefix(v.Name, config.Prefix) {
			t.Errorf("variable %s: want prefix %s", v.Name, config.Prefix)
		}
		if v.Description == "" {
			t.Errorf("variable %s has no description", v.Name)
		}
	}
	if got, want := len(vars), reflect.TypeFor[config.Config]().NumField(); got != want {
		t.Errorf("len(Variables()) = %d, want %d (one per Config field)", got, want)
	}

	wantDefaults := map[string]string{
		"PARLEY_HTTP_ADDR": "",
		"PARLEY_REDIS_URL": "",

		"PARLEY_REDIS_CLUSTER_ADDRS":     "",
		"PARLEY_REDIS_SENTINEL_ADDRS":    "",
		"PARLEY_REDIS_SENTINEL_MASTER":   "",
		"PARLEY_REDIS_SENTINEL_PASSWORD": "",
		"PARLEY_REDIS_USERNAME":          "",
		"PARLEY_REDIS_PASSWORD":          "",
		"PARLEY_REDIS_TLS":               "false",
		"PARLEY_REDIS_WAIT_REPLICAS":     "0",
		"PARLEY_REDIS_WAIT_TIMEOUT":      "500ms",

		"PARLEY_JWT_SECRET":          "",
		"PARLEY_JWT_PUBLIC_KEY_FILE": "",
		"PARLEY_JWT_ALGORITHMS":      "HS256",
		"PARLEY_JWT_USER_CLAIM":      "user_id",
		"PARLEY_JWT_DOMAIN_CLAIM":    "",
		"PARLEY_JWT_DOMAIN_KEYS_DIR": "",
		"PARLEY_JWT_ISSUER":          "",
		"PARLEY_JWT_AUDIENCE":        "",
		"PARLEY_JWT_REQUIRE_EXP":     "true",
		"PARLEY_JWT_LEEWAY":          "30s",
		"PARLEY_JWT_CACHE_TTL":       "1m",
		"PARLEY_DOMAINS":             "",
		"PARLEY_DEFAULT_DOMAIN":      "default",
		"PARLEY_USER_API_URL":        "",
		"PARLEY_USER_API_TIMEOUT":    "2s",
		"PARLEY_USER_API_HEADER":     "",
		"PARLEY_USER_CACHE_TTL":      "5m",
		"PARLEY_MAX_TEXT":            "4000",
		"PARLEY_MAX_BODY":            "65536",
		"PARLEY_MAX_PER_PAGE":        "100",
		"PARLEY_CORS_ORIGINS":        "",
		"PARLEY_LOG_FORMAT":          "text",
		"PARLEY_LOG_LEVEL":           "info",
		"PARLEY_NUMERIC_IDS":         "true",
		"PARLEY_KEY_PREFIX":          "parley:",
		"PARLEY_SHUTDOWN_TIMEOUT":    "15s",
		"PARLEY_EVENT_LOG_MAX":       "1000",
		"PARLEY_EVENT_LOG_AGE":       "24h",
		"PARLEY_POLLING_MAX_PACKETS": "16",
		"PARLEY_SSE_HEARTBEAT":       "25s",
		"PARLEY_TYPING_TTL":          "5s",
		"PARLEY_TYPING_INTERVAL":     "1s",
		"PARLEY_PRESENCE_HEARTBEAT":  "10s",
		"PARLEY_METRICS_ADDR":        "127.0.0.1:9090",
		"PARLEY_PPROF":               "false",
		"PARLEY_SEND_RATE":           "10",
		"PARLEY_SEND_BURST":          "20",
		"PARLEY_WRITE_RATE":          "10",
		"PARLEY_WRITE_BURST":         "50",
		"PARLEY_CLIENT_ID_WINDOW":    "24h",
		"PARLEY_ADMIN_CLAIM":         "role",
		"PARLEY_ADMIN_VALUE":         "admin",

		"PARLEY_SOCKET_AUTH_TIMEOUT":      "5s",
		"PARLEY_LEGACY_SOCKETS":           "false",
		"PARLEY_MAX_PENDING_SESSIONS":     "1000",
		"PARLEY_MAX_CONNECTIONS_PER_USER": "32",
		"PARLEY_CONN_QUEUE_MAX":           "1000",
		"PARLEY_CONN_QUEUE_BYTES":         "1048576",
		"PARLEY_CONN_WRITE_TIMEOUT":       "10s",

		"PARLEY_WEBHOOK_URL":          "",
		"PARLEY_WEBHOOK_SECRET":       "",
		"PARLEY_WEBHOOK_EVENTS":       "message.new",
		"PARLEY_WEBHOOK_OFFLINE_ONLY": "true",
		"PARLEY_WEBHOOK_MAX_AGE":      "24h",
		"PARLEY_WEBHOOK_TIMEOUT":      "5s",
		"PARLEY_WEBHOOK_CONCURRENCY":  "32",
		"PARLEY_HOOK_BEFORE_SEND_URL": "",
		"PARLEY_HOOK_TIMEOUT":         "1s",
		"PARLEY_HOOK_FAIL_OPEN":       "true",
	}
	for name, want := range wantDefaults {
		v, ok := byName[name]
		if !ok {
			t.Errorf("Variables() is missing %s", name)
			continue
		}
		if got := v.Default; got != want {
			t.Errorf("%s default = %q, want %q", name, got, want)
		}
	}
	if got, want := slices.Sorted(maps.Keys(byName)), slices.Sorted(maps.Keys(wantDefaults)); !slices.Equal(got, want) {
		t.Errorf("Variables() names = %v, want %v", got, want)
	}
}

// TestVariablesDefaultsLoad checks that every documented default is what
// Load actually applies: setting each variable to its own default changes
// nothing.
func TestVariablesDefaultsLoad(t *testing.T) {
	environ := map[string]string{}
	for _, v := range config.Variables() {
		if v.Default != "" {
			environ[v.Name] = v.Default
		}
	}
	got, err := config.Load(environ)
	if err != nil {
		t.Fatalf("Load(defaults): %v", err)
	}
	want, err := config.Load(map[string]string{})
	if err != nil {
		t.Fatalf("Load(empty): %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(defaults) = %+v, want %+v", got, want)
	}
}
