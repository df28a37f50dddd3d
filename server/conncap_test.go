package server

import "testing"

// TestConnCounter: a key holds at most max, other keys are independent,
// a refused acquire counts nothing, and release counts out once however
// often it is called.
func TestConnCounter(t *testing.T) {
	c := newConnCounter(2)
	r1, ok1 := c.acquire("a")
	_, ok2 := c.acquire("a")
	_, ok3 := c.acquire("a")
	if !ok1 || !ok2 || ok3 {
		t.Fatalf("acquires = %v %v %v, want true true false", ok1, ok2, ok3)
	}
	if _, ok := c.acquire("b"); !ok {
		t.Fatal("key b refused while a is full")
	}
	if got := c.count("a"); got != 2 {
		t.Fatalf("count(a) = %d after a refusal, want 2", got)
	}
	r1()
	r1()
	if got := c.count("a"); got != 1 {
		t.Fatalf("count(a) = %d after releasing one twice, want 1", got)
	}
	if _, ok := c.acquire("a"); !ok {
		t.Fatal("a refused after a release")
	}
	if _, ok := c.acquire("a"); ok {
		t.Fatal("a over its max after the release was spent")
	}
}
