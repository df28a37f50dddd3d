// Package chat is Parley's domain core: user ids, domains, conversations,
// messages, the error vocabulary shared by every transport, the Redis
// keyspace, and the Redis store that keeps direct messages.
//
// It knows nothing about HTTP or Socket.IO. Writes that touch several keys
// run as one embedded Lua script, so a message, its conversation and both
// inboxes always agree.
package chat
