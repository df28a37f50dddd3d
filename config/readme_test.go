package config_test

import (
	"os"
	"strings"
	"testing"

	"parley/config"
)

// TestREADMEListsEveryVariable: the README's configuration table names
// every variable Load reads.
func TestREADMEListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, v := range config.Variables() {
		if !strings.Contains(readme, "| `"+v.Name+"`") && !strings.Contains(readme, "/ `"+v.Name+"`") {
			t.Errorf("README.md's configuration table lacks `%s`", v.Name)
		}
	}
}
