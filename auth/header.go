package auth

import (
	"net/http"
	"strings"
)

// TokenFromHeader returns the token carried by h: the X-Auth-Token header
// when non-blank, otherwise the credentials of an "Authorization: Bearer"
// header (the scheme is case-insensitive). It returns "" when there is none.
func TokenFromHeader(h http.Header) string {
	if t := strings.TrimSpace(h.Get("X-Auth-Token")); t != "" {
		return t
	}
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(rest)
}
