package server

import (
	"os"
	"testing"

	"parley/internal/testutil"
)

// TestMain says which Redis the tests used (testutil.Reporting).
func TestMain(m *testing.M) { os.Exit(testutil.Reporting(m).Run()) }
