package testutil

import "testing"

func TestReportLine(t *testing.T) {
	for _, c := range []struct {
		what  []string
		skips int64
		want  string
	}{
		{nil, 0, ""},
		{[]string{"the embedded store at x"}, 0, "p: redis: the embedded store at x"},
		{[]string{"a", "b"}, 1, "p: redis: a; b; 1 test skipped that need a redis-server process or a real Redis (apt-get install redis-server)"},
		{nil, 3, "p: redis: none used; 3 tests skipped that need a redis-server process or a real Redis (apt-get install redis-server)"},
	} {
		if got := reportLine("p", c.what, c.skips); got != c.want {
			t.Errorf("reportLine(%v, %d) = %q, want %q", c.what, c.skips, got, c.want)
		}
	}
}
