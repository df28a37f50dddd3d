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

// noEvents is the sink when no realtime transport is wired.
type noEvents struct{}

func (noEvents) messageNew(chat.Conversation, chat.Message)    {}
func (noEvents) messageEdit(chat.Conversation, chat.Message)   {}
func (noEvents) messageDelete(chat.Conversation, chat.Message) {}
