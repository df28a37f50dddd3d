package server

import "parley/chat"

// eventSink receives what a successful write changed, after Redis has it.
// The realtime transport implements it; nothing is emitted for a failed
// write because handlers only call it on success.
type eventSink interface {
	messageNew(conv chat.Conversation, m chat.Message)
	messageEdit(conv chat.Conversation, m chat.Message)
	messageDelete(conv chat.Conversation, m chat.Message)
}
