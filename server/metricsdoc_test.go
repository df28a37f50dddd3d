package server

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"parley/userapi"
)

type noUserStats struct{}

func (noUserStats) Stats() userapi.Stats { return userapi.Stats{} }

// TestDeployDocListsEveryMetric: docs/deploy.md's metrics table names every
// parley_* series the node exports, no other, and every event type label
// exported at 0.
func TestDeployDocListsEveryMetric(t *testing.T) {
	raw, err := os.ReadFile("../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	m := newMetrics(noUserStats{}, func() int { return 0 })
	// Vectors without a child are not gathered: give each one.
	m.requests.WithLabelValues("/x", "GET", "200").Inc()
	m.latency.WithLabelValues("/x", "GET").Observe(0)
	m.redisLatency.WithLabelValues("get").Observe(0)
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range families {
		name := f.GetName()
		if !strings.HasPrefix(name, "parley_") {
			continue
		}
		exported[name] = true
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/deploy.md does not list %s", name)
		}
		if name == "parley_events_emitted_total" {
			for _, metric := range f.GetMetric() {
				for _, l := range metric.GetLabel() {
					if l.GetName() == "type" && !strings.Contains(doc, "`"+l.GetValue()+"`") {
						t.Errorf("docs/deploy.md does not name the event type %s", l.GetValue())
					}
				}
			}
		}
	}
	for _, name := range regexp.MustCompile("`(parley_[a-z_]+)`").FindAllStringSubmatch(doc, -1) {
		if !exported[name[1]] {
			t.Errorf("docs/deploy.md lists %s, which the node does not export", name[1])
		}
	}
	if strings.Contains(doc, "always 0 until Parley has one") {
		t.Error("docs/deploy.md says the send rate limit does not exist")
	}
}
