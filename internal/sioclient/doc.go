// Package sioclient is a small Socket.IO v4 client over the Engine.IO v4
// websocket transport, for Parley's Go end-to-end tests and load tools. It
// speaks only what they need: connect to the main namespace with an auth
// payload, answer pings, receive events, and close.
package sioclient
