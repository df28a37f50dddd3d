// Package server is Parley's composition root and its transports: the Gin
// REST API, the Socket.IO endpoint, middleware, and the one table that maps
// domain errors to HTTP statuses. It is the only package that imports Gin,
// Socket.IO, config and the Redis client constructor; nothing imports it but
// main and the end-to-end tests.
package server
