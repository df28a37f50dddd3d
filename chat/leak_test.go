package chat_test

import (
	"testing"

	"go.uber.org/goleak"

	"parley/internal/testutil"
)

// TestMain fails the package if any test leaves a goroutine running, and
// says which Redis the tests used (testutil.Reporting).
func TestMain(m *testing.M) { goleak.VerifyTestMain(testutil.Reporting(m)) }
