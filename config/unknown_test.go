package config

import (
	"strings"
	"testing"
)

// TestUnknownVariables: a PARLEY_* variable Parley does not read is
// reported, with the closest real name when it is a likely misspelling.
func TestUnknownVariables(t *testing.T) {
	environ := map[string]string{
		"PARLEY_JWT_SECRT":               "x", // one letter missing
		"PARLEY_REDIS_ULR":               "x", // two letters swapped
		"PARLEY_MAX_CONECTIONS_PER_USER": "x",
		"PARLEY_LOG_LEVEL":               "debug", // real
		"PARLEY_TEST_REDIS_URL":          "x",     // the tests' own
		"PARLEY_SOMETHING_ELSE":          "x",     // no close name
		"PARLY_JWT_SECRET":               "x",     // not our prefix: not ours to judge
		"HOME":                           "/root",
	}
	got := map[string]string{}
	for _, u := range UnknownVariables(environ) {
		got[u.Name] = u.Closest
	}
	want := map[string]string{
		"PARLEY_JWT_SECRT":               "PARLEY_JWT_SECRET",
		"PARLEY_REDIS_ULR":               "PARLEY_REDIS_URL",
		"PARLEY_MAX_CONECTIONS_PER_USER": "PARLEY_MAX_CONNECTIONS_PER_USER",
		"PARLEY_SOMETHING_ELSE":          "",
	}
	if len(got) != len(want) {
		t.Errorf("unknown = %v, want %v", got, want)
	}
	for name, closest := range want {
		if c, ok := got[name]; !ok || c != closest {
			t.Errorf("%s: closest = %q (reported %v), want %q", name, c, ok, closest)
		}
	}
	for _, u := range UnknownVariables(environ) {
		if u.Closest != "" && !strings.Contains(u.String(), u.Closest) {
			t.Errorf("String() = %q does not name %s", u.String(), u.Closest)
		}
	}
	if u := UnknownVariables(map[string]string{"PARLEY_HTTP_ADDR": ":1"}); len(u) != 0 {
		t.Errorf("a real variable reported: %v", u)
	}
}

func TestLevenshtein(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"URL", "ULR", 2}, {"SECRET", "SECRT", 1}} {
		if got := levenshtein(tt.a, tt.b); got != tt.want {
			t.Errorf("levenshtein(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
