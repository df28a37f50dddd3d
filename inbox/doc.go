// Package inbox reads a user's inbox: their conversations, most recent
// first, each with its latest message. The chat package's send and delete
// scripts keep the inbox sorted sets up to date; this package only reads.
package inbox
