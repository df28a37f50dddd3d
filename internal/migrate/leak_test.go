package migrate_test

import (
	"testing"

	"go.uber.org/goleak"

	"parley/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(testutil.Reporting(m)) }
