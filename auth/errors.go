package auth

import "errors"

// Sentinel errors returned by [Verifier.Verify]. Match them with errors.Is.
var (
	// ErrMissingToken means no token was supplied (empty after trimming).
	ErrMissingToken = errors.New("missing token")
	// ErrInvalidToken means the token must be rejected: bad signature,
	// disallowed algorithm, malformed, wrong claim types, missing user, not
	// yet valid, or expired. Every such error also matches exactly one of
	// the reasons below; [Reason] names it for the client.
	ErrInvalidToken = errors.New("invalid token")
	// ErrExpiredToken means the exp claim lies in the past (beyond the
	// leeway). Errors matching it also match ErrInvalidToken.
	ErrExpiredToken = errors.New("token expired")
	// ErrAmbiguousToken means one request carried two different tokens
	// (see [RequestToken]); it is a malformed request, not a bad token.
	ErrAmbiguousToken = errors.New("two different tokens in one request")
)

// Why a token matching ErrInvalidToken was refused, besides ErrExpiredToken.
// The texts are safe to show: they describe the caller's own token.
var (
	ErrMalformedToken = errors.New("token is malformed (not a JWT)")
	ErrTooLong        = errors.New("token is too long")
	ErrAlgorithm      = errors.New("token signing method is not allowed")
	ErrBadSignature   = errors.New("token signature is invalid")
	ErrCritical       = errors.New(`token header "crit" names extensions Parley does not support`)
	ErrNoExpiry       = errors.New("token has no exp claim, and one is required")
	ErrNotYetValid    = errors.New("token is not valid yet (nbf or iat in the future)")
	ErrWrongIssuer    = errors.New("token issuer (iss) is not the one expected")
	ErrWrongAudience  = errors.New("token audience (aud) is not the one expected")
	ErrBadClaims      = errors.New("token claims are invalid")
	// ErrNoUser: the token verifies but names no usable user; the seed
	// answered it as an authentication failure, not a JWT one.
	ErrNoUser = errors.New("token carries no valid user id")
	// ErrNoDomain: the token verifies but its domain claim is absent or
	// not a non-empty string.
	ErrNoDomain = errors.New("token carries no valid domain claim")
)

var reasons = []error{ErrExpiredToken, ErrMalformedToken, ErrTooLong, ErrAlgorithm, ErrBadSignature, ErrCritical,
	ErrNoExpiry, ErrNotYetValid, ErrWrongIssuer, ErrWrongAudience, ErrBadClaims, ErrNoUser, ErrNoDomain}

// Reason is the client-facing sentence for why err refused a token: the
// text of the reason sentinel it matches, or "token is invalid".
func Reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r) {
			return r.Error()
		}
	}
	return "token is invalid"
}
