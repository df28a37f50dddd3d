// Package presence tracks which users are online across every Parley node
// and tells their DM peers when that changes.
//
// A user is online while at least one of their devices (a Socket.IO socket
// or an SSE stream) is connected to any node. Each node counts its own
// devices per user in memory and keeps, in Redis:
//
//   - per user, a sorted set of the nodes holding them, scored by the epoch
//     ms their entry expires at; the user is online while any score is in
//     the future;
//   - per node, its heartbeat key (epoch ms) and the set of users it holds;
//   - one registry of nodes scored by their last heartbeat, the index the
//     sweep reads.
//
// Every heartbeat pushes this node's expiries forward and sweeps nodes whose
// heartbeat is older than the expiry: a node that died without running its
// disconnect hooks is claimed by exactly one survivor (claim.lua deletes its
// heartbeat key atomically with taking its users), which
// removes the dead node from each of its users and announces those left with
// no live node as offline. A node that finds itself claimed while alive (it
// stalled past the expiry) takes a new id and registers its users again; a
// node that could not beat for longer than the expiry sweeps nobody on its
// first heartbeat back (after a Redis outage every node looks dead).
//
// Events go to the user's DM peers (their inbox, most recent first,
// bounded) as ephemeral "presence" events on the peers' event channels,
// which every node's hub delivers to live connections.
//
// Every script touches the keys of one Redis Cluster slot: the user's
// (connect, disconnect, evict: one user each), or the node's (join, beat,
// claim). A change that spans slots is steps in an order that keeps the
// guarantees (see register, unregister, Sweep); the registry is written
// alone. Announcements use SPUBLISH when Keys.Sharded.
//
// The package is plain Go and Redis: it knows nothing of HTTP or Socket.IO.
package presence
