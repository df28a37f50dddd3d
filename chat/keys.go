package chat

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// Conversation is the DM between two users of one domain. Lo and Hi are the
// two ids in canonical order, so both users build the same value.
type Conversation struct {
	Domain Domain
	Lo, Hi UserID
}

// NewConversation returns the conversation between a and b; a == b is
// Invalid (nobody messages themselves).
func NewConversation(d Domain, a, b UserID) (Conversation, error) {
	if a == b {
		return Conversation{}, E("chat.NewConversation", Invalid, "you cannot message yourself", nil)
	}
	if less(b, a) {
		a, b = b, a
	}
	return Conversation{Domain: d, Lo: a, Hi: b}, nil
}

// Peer returns the other party of the conversation.
func (c Conversation) Peer(of UserID) UserID {
	if of == c.Lo {
		return c.Hi
	}
	return c.Lo
}

// Has reports whether u is one of the two parties.
func (c Conversation) Has(u UserID) bool { return u == c.Lo || u == c.Hi }

// Key is the conversation's public key, "<domain>:dm:<lo>-<hi>", as shown in
// API responses (state.key). Ids that contain '-' have it escaped as "%2D"
// so that "a-b"+"c" and "a"+"b-c" can never share a key; ids never contain
// '%', which keeps the escaping unambiguous. Numeric ids, the common case,
// are unchanged.
func (c Conversation) Key() string {
	return string(c.Domain) + ":dm:" + escapeDash(c.Lo) + "-" + escapeDash(c.Hi)
}

func escapeDash(u UserID) string { return strings.ReplaceAll(string(u), "-", "%2D") }

// InboxMember is the member naming peer in a user's inbox: "user-<peer>".
func InboxMember(peer UserID) string { return "user-" + string(peer) }

// PeerFromMember parses an inbox member back into the peer id.
func PeerFromMember(m string) (UserID, bool) {
	id, ok := strings.CutPrefix(m, "user-")
	if !ok {
		return "", false
	}
	u, err := ParseUserID(id)
	return u, err == nil
}

// InboxKey is the public key of u's inbox, "<domain>:inbox:<user>".
func InboxKey(d Domain, u UserID) string { return string(d) + ":inbox:" + string(u) }

// Keys builds every Redis key Parley uses: the whole keyspace lives here.
// Prefix (PARLEY_KEY_PREFIX, default "parley:") lets Parley share a Redis.
// All parts come from validated ids and domains, which cannot hold ':', '*'
// or '{', or are hashed (client ids), so nothing from a request reaches a
// key name verbatim or outside its own domain.
//
// Every key carries a Redis Cluster hash tag (the part in braces), so the
// keys one atomic step touches share a slot: a conversation's keys are
// tagged by the conversation, "{<domain>:dm:<lo>-<hi>}", a user's by the
// user, "{<domain>:u:<id>}", a node's by the node. The prefix cannot hold
// '{' or '}' (config refuses it), so the tag is always the one Parley put.
type Keys struct {
	Prefix string
	// Sharded picks the pub/sub commands of users' event channels: true =
	// SPUBLISH/SSUBSCRIBE (sharded pub/sub, Redis >= 7, single or cluster:
	// on a cluster an event reaches only the shard that owns the user's
	// slot); false = PUBLISH/SUBSCRIBE, for the embedded store (miniredis
	// has no sharded pub/sub).
	Sharded bool
}

// conv is the common start of a conversation's keys.
func (k Keys) conv(c Conversation) string { return k.Prefix + "{" + c.Key() + "}" }

// user is the common start of u's keys.
func (k Keys) user(d Domain, u UserID) string {
	return k.Prefix + "{" + string(d) + ":u:" + string(u) + "}"
}

// DM is the sorted set of message ids, scored by a per-conversation sequence.
func (k Keys) DM(c Conversation) string { return k.conv(c) }

// Messages is the hash of message id -> message JSON.
func (k Keys) Messages(c Conversation) string { return k.conv(c) + ":msgs" }

// Seq is the counter that numbers the conversation's messages.
func (k Keys) Seq(c Conversation) string { return k.conv(c) + ":seq" }

// TimeIndex is the sorted set of message ids scored by their epoch ms, for
// reads by time window; the send and delete scripts keep it in step with DM.
func (k Keys) TimeIndex(c Conversation) string { return k.conv(c) + ":ts" }

// Inbox is the sorted set of "user-<peer>" members scored by the epoch ms of
// the conversation's latest message.
func (k Keys) Inbox(d Domain, u UserID) string { return k.user(d, u) + ":inbox" }

// EventLog is u's event stream: every event delivered to u, numbered by
// EventSeq, capped by count and age. Its name is also the pub/sub channel
// the same events are published on (in u's slot, for sharded pub/sub).
func (k Keys) EventLog(d Domain, u UserID) string { return k.user(d, u) + ":events" }

// EventSeq is u's event counter; it is never trimmed, so ids never repeat.
func (k Keys) EventSeq(d Domain, u UserID) string { return k.EventLog(d, u) + ":seq" }

// Blocks is the set of users u has blocked.
func (k Keys) Blocks(d Domain, u UserID) string { return k.user(d, u) + ":blocks" }

// WriteBucket is u's token bucket for every write toward another user but
// sends (edit, seen, read, typing, delete).
func (k Keys) WriteBucket(d Domain, u UserID) string { return k.user(d, u) + ":rate:write" }

// Read is u's hash of read horizons: peer -> "<seq>:<message id>:<epoch ms>".
func (k Keys) Read(d Domain, u UserID) string { return k.user(d, u) + ":read" }

// Unread held u's total of unread messages over all conversations. No
// longer written: the total is the sum of UnreadBy, which the scripts keep
// (a total kept beside it cost three Redis calls per send and could drift).
// parley migrate-keys still moves it and compares it with that sum; an
// existing key is unused and may be deleted.
func (k Keys) Unread(d Domain, u UserID) string { return k.user(d, u) + ":unread" }

// SendBucket is u's send rate-limit token bucket.
func (k Keys) SendBucket(d Domain, u UserID) string { return k.user(d, u) + ":rate:send" }

// ClientID records u's send with client id cid for the idempotency
// window, in u's slot: the fingerprint of what the first send asked for,
// so reusing the id for another message (another recipient, so another
// conversation) is a Conflict. The client id is free text from the
// request, so the key holds its SHA-256 (hex), never the id itself: the
// same id always names the same key, and no ':', '*' or '{' a client
// sends can shape a key or pick a Cluster slot.
func (k Keys) ClientID(d Domain, u UserID, cid string) string {
	sum := sha256.Sum256([]byte(cid))
	return k.user(d, u) + ":cid:" + hex.EncodeToString(sum[:])
}

// ConvClientID is the full record of from's send with client id cid in
// conv (the message, its seq and op), in the conversation's slot, so the
// send's conversation step recognises a retry in the same atomic step
// that stores the message. Hashed like ClientID, with the sender.
func (k Keys) ConvClientID(conv Conversation, from UserID, cid string) string {
	sum := sha256.Sum256([]byte(string(from) + "\x00" + cid))
	return k.conv(conv) + ":cid:" + hex.EncodeToString(sum[:])
}

// Ops numbers the conversation's ops: every change (send, edit, delete,
// read receipt) is op n of its conversation, applied to each participant
// in order (see Applied).
func (k Keys) Ops(c Conversation) string { return k.conv(c) + ":ops" }

// Fanout is the hash of op number -> op JSON (each participant's effects)
// of the conversation's ops not yet applied to every participant; an op
// leaves it when its fan-out is done.
func (k Keys) Fanout(c Conversation) string { return k.conv(c) + ":fanout" }

// Pending is the sorted set of the conversation's op numbers (scored by
// the number) whose fan-out is not done yet.
func (k Keys) Pending(c Conversation) string { return k.conv(c) + ":pending" }

// Lease is held (SET NX PX) by the node repairing the conversation's
// pending ops, so two repair loops do not do the same work twice.
func (k Keys) Lease(c Conversation) string { return k.conv(c) + ":lease" }

// FanoutShards is the number of pending-fan-out index keys.
const FanoutShards = 16

// FanoutIndex is shard i of the index of writes whose fan-out may be
// pending: a sorted set of "<domain>\n<lo>\n<hi>\n<op id>" members scored
// by the epoch ms the write started, one slot per shard, so the repair
// loop finds a conversation left half-done by a node that died.
func (k Keys) FanoutIndex(i int) string { return k.Prefix + "{fanout:" + strconv.Itoa(i) + "}" }

// Applied is u's hash of conversation key -> the last op of that
// conversation applied to u (see Ops).
func (k Keys) Applied(d Domain, u UserID) string { return k.user(d, u) + ":applied" }

// UnreadBy is u's hash of peer -> u's unread messages in the DM with peer
// (a DM with none has no field); u's unread total is its sum.
func (k Keys) UnreadBy(d Domain, u UserID) string { return k.user(d, u) + ":unread_by" }

// Typing is the key that rate-limits from's typing announcements to to; it
// expires after one interval.
func (k Keys) Typing(d Domain, from, to UserID) string {
	return k.user(d, from) + ":typing:" + string(to)
}

// PresenceNodes is the sorted set of the nodes u is connected to, scored by
// the expiry of each node's claim on u.
func (k Keys) PresenceNodes(d Domain, u UserID) string { return k.user(d, u) + ":presence" }

// PresenceAt is the epoch ms u came online (while online) or was last seen.
func (k Keys) PresenceAt(d Domain, u UserID) string { return k.user(d, u) + ":presence:at" }

// Nodes is the registry of live nodes, scored by their last heartbeat.
func (k Keys) Nodes() string { return k.Prefix + "{nodes}" }

// NodeUsers is the set of "<domain>:<user>" members a node holds.
func (k Keys) NodeUsers(node string) string { return k.Prefix + "{node:" + node + "}:users" }

// NodeBeat is the epoch ms of a node's last heartbeat, in the node's slot:
// the claim of a dead node checks and deletes it atomically with taking
// the node's users, and a node whose key is gone was declared dead. (Nodes
// is only the index the sweep reads to find candidates.)
func (k Keys) NodeBeat(node string) string { return k.Prefix + "{node:" + node + "}:beat" }

// NodeClaim is a dead node's users while a sweeper evicts them; it shares
// the node's slot, so NodeUsers can be renamed to it.
func (k Keys) NodeClaim(node string) string { return k.NodeUsers(node) + ":claimed" }

// ReadyProbe is the key readiness probes with SET XX: nothing creates it,
// so the probe tests that Redis accepts writes without writing.
func (k Keys) ReadyProbe() string { return k.Prefix + "ready.probe" }

// WebhookQueue is shard i of the event-webhook queue: a stream of
// webhooks waiting for delivery, read by every node through one consumer
// group. All of a shard's keys share the tag "{wh:<i>}", so each step of
// the queue (enqueue, retry, dead-letter, replay) is one script in one
// slot.
func (k Keys) WebhookQueue(i int) string { return k.webhook(i) + ":q" }

// WebhookRetry is the sorted set of shard i's webhooks waiting for a
// retry, scored by the epoch ms it is due.
func (k Keys) WebhookRetry(i int) string { return k.webhook(i) + ":retry" }

// WebhookDead is the stream of shard i's dead-lettered webhooks (refused
// by the receiver, or older than the maximum age), capped by count.
func (k Keys) WebhookDead(i int) string { return k.webhook(i) + ":dead" }

// WebhookIDs is the sorted set of the ids shard i's webhooks were queued
// under, scored by the epoch ms they were, so queueing an id again within
// the maximum age does nothing; older ids are trimmed.
func (k Keys) WebhookIDs(i int) string { return k.webhook(i) + ":ids" }

// webhook is the common start of shard i's webhook keys.
func (k Keys) webhook(i int) string { return k.Prefix + "{wh:" + strconv.Itoa(i) + "}" }
