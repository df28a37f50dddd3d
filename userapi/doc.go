// Package userapi fetches the user objects (author name and role) that the
// chat API shows, from the platform's user API.
//
// A [Client] issues GET requests to a URL template in which "{id}" is replaced
// by the path-escaped user id, and accepts a JSON object with "username" and
// "role" fields, bare or wrapped as {"user": {...}} or {"data": {...}}. The
// values are kept verbatim as [encoding/json.RawMessage], so the chat API can
// pass them through without knowing their shape.
//
// Lookups never fail: any problem (non-200 status, timeout, malformed body,
// cancelled context) yields [Fallback], whose username and role are JSON null,
// and is logged rather than returned. Found users are cached for Options.TTL;
// failures are cached for min(TTL, 30s) so that a down API is not hammered.
// Concurrent lookups of the same id share one HTTP request, and each
// [Client.Lookup] batch bounds its outbound concurrency.
//
// The package is a leaf: it imports only the standard library.
package userapi
