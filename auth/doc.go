// Package auth verifies the JSON Web Tokens that the platform signs for its
// users. Parley never issues production tokens: a [Verifier] checks the
// signature, the algorithm allow-list and the time claims, and extracts the
// user id (and optionally a domain) as plain strings.
//
// Every failure is reported through the sentinels [ErrMissingToken],
// [ErrInvalidToken] and [ErrExpiredToken]; an expired token matches both
// ErrExpiredToken and ErrInvalidToken, so callers that only check
// ErrInvalidToken still reject it. The underlying golang-jwt error is wrapped
// too (errors.Is(err, jwt.ErrTokenMalformed) works) for logging.
//
// [RequestToken] is the one place a request's token is found, for every
// transport: it refuses two different tokens with [ErrAmbiguousToken]
// rather than letting one of them win.
//
// The package is a leaf: it imports only the standard library and
// github.com/golang-jwt/jwt/v5.
package auth
