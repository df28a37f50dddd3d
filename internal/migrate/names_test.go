package migrate_test

import (
	"strings"
	"testing"

	"parley/chat"
	"parley/internal/migrate"
)

// TestPlan pins every old name to its new one, written out literally (not
// built with chat.Keys), and that names the old layout never wrote are
// left alone.
func TestPlan(t *testing.T) {
	t.Parallel()
	keys := chat.Keys{Prefix: "parley:"}
	hex := strings.Repeat("0f", 32)
	moves := []struct {
		old  string
		kind migrate.Kind
		new  string
	}{
		{"parley:acme:dm:1-2", migrate.KindDM, "parley:{acme:dm:1-2}"},
		{"parley:acme:dm:9-10", migrate.KindDM, "parley:{acme:dm:9-10}"},
		{"parley:acme:dm:1-2:msgs", migrate.KindMessages, "parley:{acme:dm:1-2}:msgs"},
		{"parley:acme:dm:1-2:seq", migrate.KindSeq, "parley:{acme:dm:1-2}:seq"},
		{"parley:acme:dm:1-2:ts", migrate.KindTimeIndex, "parley:{acme:dm:1-2}:ts"},
		{"parley:acme:dm:a%2Db-c", migrate.KindDM, "parley:{acme:dm:a%2Db-c}"},
		{"parley:a_b-c:dm:x.y-z_1:msgs", migrate.KindMessages, "parley:{a_b-c:dm:x.y-z_1}:msgs"},
		{"parley:acme:inbox:42", migrate.KindInbox, "parley:{acme:u:42}:inbox"},
		{"parley:acme:events:42", migrate.KindEvents, "parley:{acme:u:42}:events"},
		{"parley:acme:events:42:seq", migrate.KindEventSeq, "parley:{acme:u:42}:events:seq"},
		{"parley:acme:read:a-b", migrate.KindRead, "parley:{acme:u:a-b}:read"},
		{"parley:acme:unread:42", migrate.KindUnread, "parley:{acme:u:42}:unread"},
		{"parley:acme:blocks:42", migrate.KindBlocks, "parley:{acme:u:42}:blocks"},
		{"parley:acme:rate:send:42", migrate.KindSendBucket, "parley:{acme:u:42}:rate:send"},
		{"parley:acme:rate:write:42", migrate.KindWriteBkt, "parley:{acme:u:42}:rate:write"},
		{"parley:acme:typing:1:2", migrate.KindTyping, "parley:{acme:u:1}:typing:2"},
		{"parley:acme:presence:7", migrate.KindPresence, "parley:{acme:u:7}:presence"},
		{"parley:acme:presence:7:at", migrate.KindPresenceAt, "parley:{acme:u:7}:presence:at"},
		{"parley:presence.nodes", migrate.KindNodes, "parley:{nodes}"},
		{"parley:presence.node:9f86d081884c7d65", migrate.KindNodeUsers, "parley:{node:9f86d081884c7d65}:users"},
		{"parley:presence.node:9f86d081884c7d65:claimed", migrate.KindNodeClaim, "parley:{node:9f86d081884c7d65}:users:claimed"},
		{"parley:acme:cid:42:" + hex, migrate.KindClientID, ""},
	}
	for _, tt := range moves {
		m, ok := migrate.Plan(keys, tt.old)
		if !ok || m.Kind != tt.kind || m.New != tt.new || m.Old != tt.old {
			t.Errorf("Plan(%q) = %+v, %v; want {%s %s %s}, true", tt.old, m, ok, tt.kind, tt.old, tt.new)
		}
	}
	left := []string{
		"other:acme:inbox:42",       // another prefix
		"parley:{acme:u:42}:inbox",  // the new layout
		"parley:{acme:dm:1-2}",      // the new layout
		"parley:ready.probe",        // never created, never moved
		"parley:acme:dm:2-1",        // not in canonical order
		"parley:acme:dm:10-9",       // numeric order: 9 < 10
		"parley:acme:dm:1-1",        // nobody messages themselves
		"parley:acme:dm:a-b-c",      // a '-' in an id is escaped
		"parley:acme:dm:a%2db-c",    // ... as %2D exactly
		"parley:acme:dm:a%2Fb-c",    // no other escape
		"parley:acme:dm:1-2:other",  // no such DM key
		"parley:acme:dm:1-2:msgs:x", // too long
		"parley:Acme:inbox:42",      // a domain is lower case
		"parley:" + strings.Repeat("d", 33) + ":inbox:1",
		"parley:acme:inbox:" + strings.Repeat("u", 65),
		"parley:acme:inbox:..",           // not an id
		"parley:acme:inbox:a*b",          // not an id
		"parley:acme:inbox:42:x",         // too long
		"parley:acme:inbox",              // too short
		"parley:acme:events:42:x",        // no such key
		"parley:acme:presence:7:x",       // no such key
		"parley:acme:rate:other:42",      // no such bucket
		"parley:acme:rate:send:42:x",     // too long
		"parley:acme:typing:1:1",         // not toward oneself
		"parley:acme:typing:1",           // too short
		"parley:acme:cid:42:" + hex[:63], // not a SHA-256
		"parley:acme:cid:42:" + strings.ToUpper(hex),
		"parley:acme:other:42",     // no such kind
		"parley:presence.node:",    // no node
		"parley:presence.node:a:b", // not a node id
		"parley:presence.nodes:x",  // no such key
		"parley:",                  // the bare prefix
	}
	for _, k := range left {
		if m, ok := migrate.Plan(keys, k); ok {
			t.Errorf("Plan(%q) = %+v, want it left alone", k, m)
		}
	}
}

// TestPlanEmptyPrefix: with no prefix the names are parsed the same way.
func TestPlanEmptyPrefix(t *testing.T) {
	t.Parallel()
	m, ok := migrate.Plan(chat.Keys{}, "acme:inbox:42")
	if !ok || m.New != "{acme:u:42}:inbox" {
		t.Errorf("Plan = %+v, %v; want {acme:u:42}:inbox", m, ok)
	}
	if m, ok := migrate.Plan(chat.Keys{}, "{acme:u:42}:inbox"); ok {
		t.Errorf("Plan of a new name = %+v, want it left alone", m)
	}
}
