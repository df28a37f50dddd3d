package migrate

import (
	"strings"

	"parley/chat"
)

// Kind names what an old key holds; the summary counts moves by kind.
type Kind string

// The kinds of the old layout ("<p>" is the prefix, "<d>" a domain).
const (
	KindDM         Kind = "dm"          // <p><d>:dm:<lo>-<hi>
	KindMessages   Kind = "dm-msgs"     // <p><d>:dm:<lo>-<hi>:msgs
	KindSeq        Kind = "dm-seq"      // <p><d>:dm:<lo>-<hi>:seq
	KindTimeIndex  Kind = "dm-ts"       // <p><d>:dm:<lo>-<hi>:ts
	KindInbox      Kind = "inbox"       // <p><d>:inbox:<u>
	KindEvents     Kind = "events"      // <p><d>:events:<u>
	KindEventSeq   Kind = "events-seq"  // <p><d>:events:<u>:seq
	KindRead       Kind = "read"        // <p><d>:read:<u>
	KindUnread     Kind = "unread"      // <p><d>:unread:<u>
	KindBlocks     Kind = "blocks"      // <p><d>:blocks:<u>
	KindSendBucket Kind = "rate-send"   // <p><d>:rate:send:<u> (short-lived, moved with its TTL)
	KindWriteBkt   Kind = "rate-write"  // <p><d>:rate:write:<u> (short-lived, moved with its TTL)
	KindTyping     Kind = "typing"      // <p><d>:typing:<from>:<to> (short-lived, moved with its TTL)
	KindPresence   Kind = "presence"    // <p><d>:presence:<u>
	KindPresenceAt Kind = "presence-at" // <p><d>:presence:<u>:at
	KindNodes      Kind = "nodes"       // <p>presence.nodes
	KindNodeUsers  Kind = "node-users"  // <p>presence.node:<node>
	KindNodeClaim  Kind = "node-claim"  // <p>presence.node:<node>:claimed
	// KindClientID records (<p><d>:cid:<u>:<sha256 hex>) are not moved:
	// their new home is the conversation's slot, and the old name does not
	// say which conversation. They expire after PARLEY_CLIENT_ID_WINDOW.
	KindClientID Kind = "cid"
)

// Kinds lists every kind in the order the summary prints them.
var Kinds = []Kind{KindDM, KindMessages, KindSeq, KindTimeIndex, KindInbox, KindEvents, KindEventSeq,
	KindRead, KindUnread, KindBlocks, KindSendBucket, KindWriteBkt, KindTyping, KindPresence, KindPresenceAt,
	KindNodes, KindNodeUsers, KindNodeClaim, KindClientID}

// Move is one old key and its new name. New is "" for a key that is not
// moved but left to expire (KindClientID).
type Move struct {
	Kind     Kind
	Old, New string
}

// Plan parses key, a Redis key name, as a key of the old layout under
// keys.Prefix and returns its move. ok is false for any other key, which
// the migration leaves alone: keys outside the prefix, keys already in the
// tagged layout, and names the old layout never wrote (a bad domain or id,
// a DM whose ids are out of canonical order or escaped differently).
func Plan(keys chat.Keys, key string) (m Move, ok bool) {
	rest, ok := strings.CutPrefix(key, keys.Prefix)
	if !ok {
		return Move{}, false
	}
	if rest == "presence.nodes" {
		return Move{KindNodes, key, keys.Nodes()}, true
	}
	if node, ok := strings.CutPrefix(rest, "presence.node:"); ok {
		if base, claimed := strings.CutSuffix(node, ":claimed"); claimed {
			if !validNode(base) {
				return Move{}, false
			}
			return Move{KindNodeClaim, key, keys.NodeClaim(base)}, true
		}
		if !validNode(node) {
			return Move{}, false
		}
		return Move{KindNodeUsers, key, keys.NodeUsers(node)}, true
	}
	p := strings.Split(rest, ":")
	if len(p) < 3 {
		return Move{}, false
	}
	d, err := chat.ParseDomain(p[0])
	if err != nil {
		return Move{}, false
	}
	mv := func(k Kind, newName string) (Move, bool) { return Move{k, key, newName}, true }
	switch p[1] {
	case "dm":
		c, ok := parseConversation(d, p[2])
		if !ok {
			return Move{}, false
		}
		switch {
		case len(p) == 3:
			return mv(KindDM, keys.DM(c))
		case len(p) == 4 && p[3] == "msgs":
			return mv(KindMessages, keys.Messages(c))
		case len(p) == 4 && p[3] == "seq":
			return mv(KindSeq, keys.Seq(c))
		case len(p) == 4 && p[3] == "ts":
			return mv(KindTimeIndex, keys.TimeIndex(c))
		}
		return Move{}, false
	case "rate":
		u, ok := userID(p, 3)
		if !ok || len(p) != 4 {
			return Move{}, false
		}
		switch p[2] {
		case "send":
			return mv(KindSendBucket, keys.SendBucket(d, u))
		case "write":
			return mv(KindWriteBkt, keys.WriteBucket(d, u))
		}
		return Move{}, false
	case "typing":
		from, ok1 := userID(p, 2)
		to, ok2 := userID(p, 3)
		if !ok1 || !ok2 || len(p) != 4 || from == to {
			return Move{}, false
		}
		return mv(KindTyping, keys.Typing(d, from, to))
	case "cid":
		_, ok := userID(p, 2)
		if !ok || len(p) != 4 || !isSHA256Hex(p[3]) {
			return Move{}, false
		}
		return mv(KindClientID, "")
	}
	u, ok := userID(p, 2)
	if !ok {
		return Move{}, false
	}
	switch {
	case len(p) == 3 && p[1] == "inbox":
		return mv(KindInbox, keys.Inbox(d, u))
	case len(p) == 3 && p[1] == "events":
		return mv(KindEvents, keys.EventLog(d, u))
	case len(p) == 4 && p[1] == "events" && p[3] == "seq":
		return mv(KindEventSeq, keys.EventSeq(d, u))
	case len(p) == 3 && p[1] == "read":
		return mv(KindRead, keys.Read(d, u))
	case len(p) == 3 && p[1] == "unread":
		return mv(KindUnread, keys.Unread(d, u))
	case len(p) == 3 && p[1] == "blocks":
		return mv(KindBlocks, keys.Blocks(d, u))
	case len(p) == 3 && p[1] == "presence":
		return mv(KindPresence, keys.PresenceNodes(d, u))
	case len(p) == 4 && p[1] == "presence" && p[3] == "at":
		return mv(KindPresenceAt, keys.PresenceAt(d, u))
	}
	return Move{}, false
}

// userID parses p[i] as a user id.
func userID(p []string, i int) (chat.UserID, bool) {
	if i >= len(p) {
		return "", false
	}
	u, err := chat.ParseUserID(p[i])
	return u, err == nil
}

// parseConversation parses "<lo>-<hi>" of an old DM key, ids with '-'
// escaped as "%2D". It holds only if Conversation.Key gives back exactly
// the same name: the ids valid, distinct, in canonical order and escaped
// the way Parley escapes them.
func parseConversation(d chat.Domain, pair string) (chat.Conversation, bool) {
	lo, hi, ok := strings.Cut(pair, "-")
	if !ok || strings.Contains(hi, "-") {
		return chat.Conversation{}, false
	}
	a, err1 := chat.ParseUserID(strings.ReplaceAll(lo, "%2D", "-"))
	b, err2 := chat.ParseUserID(strings.ReplaceAll(hi, "%2D", "-"))
	if err1 != nil || err2 != nil {
		return chat.Conversation{}, false
	}
	c, err := chat.NewConversation(d, a, b)
	if err != nil || c.Key() != string(d)+":dm:"+pair {
		return chat.Conversation{}, false
	}
	return c, true
}

// validNode reports whether n can be a node id: presence names nodes with
// 16 hex digits; any id-shaped name (no ':') is accepted.
func validNode(n string) bool {
	_, err := chat.ParseUserID(n)
	return err == nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// oldNames builds the old layout's names of the keys the unread derivation
// reads, for a dry run before the keys moved.
type oldNames struct{ prefix string }

func (o oldNames) inbox(d chat.Domain, u chat.UserID) string {
	return o.prefix + string(d) + ":inbox:" + string(u)
}
func (o oldNames) read(d chat.Domain, u chat.UserID) string {
	return o.prefix + string(d) + ":read:" + string(u)
}
func (o oldNames) unread(d chat.Domain, u chat.UserID) string {
	return o.prefix + string(d) + ":unread:" + string(u)
}
func (o oldNames) dm(c chat.Conversation) string { return o.prefix + c.Key() }
