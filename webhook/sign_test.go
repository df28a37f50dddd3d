package webhook_test

import (
	"errors"
	"testing"
	"time"

	"parley/webhook"
)

func TestSignVerify(t *testing.T) {
	secret, body := []byte("s3cret"), []byte(`{"id":"x"}`)
	now := time.Unix(1_700_000_000, 0)
	h := webhook.Sign(secret, now, body)
	// The documented scheme, computed independently:
	// printf '1700000000.{"id":"x"}' | openssl dgst -sha256 -hmac s3cret
	const want = "t=1700000000,v1=2382c1d0968a5e57238c68de957f44d87e83d3049a5588ec251442ca372b8aec"
	if h != want {
		t.Fatalf("Sign = %s, want %s", h, want)
	}
	if err := webhook.Verify(secret, h, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("Verify(Sign) = %v", err)
	}
	for name, c := range map[string]struct {
		secret, body []byte
		header       string
		now          time.Time
		want         error
	}{
		"other secret": {[]byte("other"), body, h, now, webhook.ErrBadSignature},
		"other body":   {secret, []byte(`{"id":"y"}`), h, now, webhook.ErrBadSignature},
		"stale":        {secret, body, h, now.Add(10 * time.Minute), webhook.ErrStale},
		"no v1":        {secret, body, "t=1700000000", now, webhook.ErrMalformed},
		"not hex":      {secret, body, "t=1700000000,v1=zz", now, webhook.ErrMalformed},
		"no timestamp": {secret, body, "v1=00", now, webhook.ErrMalformed},
		"garbage":      {secret, body, "garbage", now, webhook.ErrMalformed},
	} {
		if err := webhook.Verify(c.secret, c.header, c.body, c.now, 5*time.Minute); !errors.Is(err, c.want) {
			t.Errorf("%s: Verify = %v, want %v", name, err, c.want)
		}
	}
}
