package auth

import "errors"

// Sentinel errors returned by [Verifier.Verify]. Match them with errors.Is.
var (
	// ErrMissingToken means no token was supplied (empty after trimming).
	ErrMissingToken = errors.New("missing token")
	// ErrInvalidToken means the token must be rejected: bad signature,
	// disallowed algorithm, malformed, wrong claim types, missing user, not
	// yet valid, or expired.
	ErrInvalidToken = errors.New("invalid token")
	// ErrExpiredToken means the exp claim lies in the past (beyond the
	// leeway). Errors matching it also match ErrInvalidToken.
	ErrExpiredToken = errors.New("token expired")
	// ErrAmbiguousToken means one request carried two different tokens
	// (see [RequestToken]); it is a malformed request, not a bad token.
	ErrAmbiguousToken = errors.New("two different tokens in one request")
)
