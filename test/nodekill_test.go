package test

import (
	"syscall"
	"testing"
	"time"

	"parley/internal/testutil"
)

// TestNodeKilledClientsMissNothing runs two real parley processes on one
// Redis, SIGKILLs the node a client is connected to, keeps sending through
// the surviving node while the client is cut off, and reconnects the client
// to the survivor with its last event id: it must receive every message,
// in order, exactly once.
func TestNodeKilledClientsMissNothing(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	secret := randomHex(t, 32)
	env := append(testutil.RedisEnvList(t), "PARLEY_KEY_PREFIX="+testutil.Prefix(t),
		"PARLEY_DEFAULT_DOMAIN="+testutil.Domain(t), "PARLEY_JWT_SECRET="+secret, "PARLEY_SEND_RATE=0")
	a, cmdA, exitedA, _ := startBinary(t, bin, env...)
	b, _, _, _ := startBinary(t, bin, env...)
	a.secret, b.secret = secret, secret
	t1, t2 := b.tok(t, 1, nil), b.tok(t, 2, nil)

	c := dialAuth(t, a, map[string]any{"token": t2})
	var got received
	for range sendBurst(t, b, t1, "2", "before", 5) {
		got.add(t, "user 2 on node A", payload(t, next(t, c, "user 2 on node A")))
	}

	if err := cmdA.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exitedA:
	case <-time.After(5 * time.Second):
		t.Fatal("node A did not die")
	}
	select { // the client notices its node is gone
	case _, ok := <-c.Events:
		if ok {
			t.Fatal("event from a killed node")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("connection to the killed node still open")
	}

	want := sendBurst(t, b, t1, "2", "while-down", 50)
	c2 := dialAuth(t, b, map[string]any{"token": t2, "lastEventId": got.ids[len(got.ids)-1]})
	after := received{ids: got.ids}
	for range want {
		after.add(t, "user 2 on node B", payload(t, next(t, c2, "user 2 on node B")))
	}
	wantTexts(t, "user 2 on node B", after.texts, want)
	quiet(t, c2, "user 2 on node B", 200*time.Millisecond)
	t.Logf("node SIGKILL: client failed over to the other node and received all %d messages sent meanwhile, 0 lost, 0 duplicated", len(want))
}
