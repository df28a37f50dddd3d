package presence

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
)

// announce tells u's DM peers (most recent first, at most MaxPeers) that u
// went online or offline at the epoch ms at, except peers on either side of
// a block with u: blocking someone also hides one's presence from them, and
// from them to one. Failures are logged: presence events are hints, and
// GET /api/presence has the truth.
func (t *Tracker) announce(ctx context.Context, d chat.Domain, u chat.UserID, online bool, at int64) {
	members, err := t.rdb.ZRevRange(ctx, t.keys.Inbox(d, u), 0, int64(t.maxPeers-1)).Result()
	if err != nil {
		t.log.Warn("presence: read peers", "user", string(u), "err", err)
		return
	}
	var peers []chat.UserID
	for _, m := range members {
		if peer, ok := chat.PeerFromMember(m); ok {
			peers = append(peers, peer)
		}
	}
	if len(peers) == 0 {
		return
	}
	ev, err := json.Marshal(chat.Event{Type: chat.EventPresence, Peer: u, TS: at, Online: online})
	if err != nil {
		return
	}
	// One round trip for the blocks both ways, one for the publishes.
	bp := t.rdb.Pipeline()
	own := bp.SMIsMember(ctx, t.keys.Blocks(d, u), toAny(peers)...)
	theirs := make([]*redis.BoolCmd, len(peers))
	for i, peer := range peers {
		theirs[i] = bp.SIsMember(ctx, t.keys.Blocks(d, peer), string(u))
	}
	if _, err := bp.Exec(ctx); err != nil {
		t.log.Warn("presence: read blocks", "user", string(u), "err", err)
		return
	}
	p := t.rdb.Pipeline()
	for i, peer := range peers {
		if own.Val()[i] || theirs[i].Val() {
			continue
		}
		// Sharded: SPUBLISH in the peer's slot (a cluster pipeline is split
		// per node, so peers on several shards cost one round trip each).
		if t.keys.Sharded {
			p.SPublish(ctx, t.keys.EventLog(d, peer), ev)
		} else {
			p.Publish(ctx, t.keys.EventLog(d, peer), ev)
		}
	}
	if _, err := p.Exec(ctx); err != nil {
		t.log.Warn("presence: publish", "user", string(u), "err", err)
	}
}

func toAny(ids []chat.UserID) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

func (t *Tracker) stripe(m string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(m))
	return &t.stripes[h.Sum32()%uint32(len(t.stripes))]
}

// The presence keyspace lives in chat.Keys with the rest.
func (t *Tracker) nodes() string                { return t.keys.Nodes() }
func (t *Tracker) nodeUsers(node string) string { return t.keys.NodeUsers(node) }
func (t *Tracker) claimed(node string) string   { return t.keys.NodeClaim(node) }
func (t *Tracker) userNodes(d chat.Domain, u chat.UserID) string {
	return t.keys.PresenceNodes(d, u)
}
func (t *Tracker) userAt(d chat.Domain, u chat.UserID) string { return t.keys.PresenceAt(d, u) }

// member names u of d in a node's user set; neither part holds ':'.
func member(d chat.Domain, u chat.UserID) string { return string(d) + ":" + string(u) }

func split(m string) (chat.Domain, chat.UserID) {
	d, u, _ := strings.Cut(m, ":")
	return chat.Domain(d), chat.UserID(u)
}

func ms(t time.Time) int64 { return t.UnixMilli() }
