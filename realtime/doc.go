// Package realtime is Parley's delivery engine: it gets each user's events
// to that user's live connections on this node, in order, without gaps or
// duplicates, whatever the transport.
//
// The send, edit and delete scripts log every event and publish it on the
// user's Redis channel in one atomic step. The Hub subscribes to the
// channels of the users connected here, and each connection (a
// subscriber) first replays what it missed from the log, then takes live
// events, dropping ids it already has and filling any gap from the log.
//
// The hub's pub/sub goes through a router (router.go): SSUBSCRIBE when
// chat.Keys.Sharded (Redis >= 7; on a Redis Cluster one connection per
// primary, each channel on its slot's owner, moved and resubscribed after a
// reconnect, a slot migration or a failover), plain SUBSCRIBE otherwise
// (the embedded store). Every (re)confirmation makes the channel's
// subscribers read the log, so a move between connections loses nothing.
//
// The package is plain Go and Redis: it knows nothing of HTTP, Gin or
// Socket.IO (server's transports feed it a deliver function), and only
// server and main import it.
package realtime
