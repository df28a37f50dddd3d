package testutil

import (
	"net"
	"strconv"
	"testing"
)

// TestStartRedisProcPortTaken: when another redis-server takes the port
// between FreePort and the bind (tests of other packages start their own
// at the same time), startRedisProc must not hand out that stranger's
// address (a cluster node that is not cluster-enabled failed CI's
// `redis-cli --cluster create`): its own process exits on the bind error
// and it starts again on a fresh port.
func TestStartRedisProcPortTaken(t *testing.T) {
	NeedRedisServer(t)
	stranger := StartRedis(t)
	_, strangerPort := splitPort(t, stranger)
	calls := 0
	addr := startRedisProc(t, func(port int) []string {
		calls++
		if calls == 1 {
			port = strangerPort // the race, made certain
		}
		return serverArgs(t, port)
	})
	if addr == stranger {
		t.Fatalf("startRedisProc returned %s, the address another redis-server holds", addr)
	}
	if calls != 2 {
		t.Fatalf("argv called %d times, want 2 (one bind failure, one retry)", calls)
	}
	procs.mu.Lock()
	cmd := procs.by[addr]
	procs.mu.Unlock()
	if cmd == nil {
		t.Fatalf("%s not registered for KillRedis", addr)
	}
	if err := waitOwned(addr, "", cmd.Process.Pid, make(chan struct{}), 0); err != nil {
		t.Fatalf("the process registered at %s does not serve it: %v", addr, err)
	}
}

func splitPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return host, p
}
