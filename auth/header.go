package auth

import (
	"net/http"
	"strings"
)

// RequestToken returns the one token a request carries. It reads every
// X-Auth-Token header (a comma-folded list counts as several), every
// "Authorization: Bearer" header (the scheme is case-insensitive; other
// schemes carry no token) and the extra candidates the transport allows,
// such as a ?token= query value or a Socket.IO auth.token. Blank values are
// ignored and a token given twice is one token. It returns "" when there is
// none, and [ErrAmbiguousToken] when two of them differ: the request does
// not get to pick which credential counts.
func RequestToken(h http.Header, extra ...string) (string, error) {
	var token string
	var ambiguous bool
	add := func(t string) {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
		case token == "":
			token = t
		case t != token:
			ambiguous = true
		}
	}
	for _, v := range h.Values("X-Auth-Token") {
		for _, t := range strings.Split(v, ",") {
			add(t)
		}
	}
	for _, v := range h.Values("Authorization") {
		scheme, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			add(rest)
		}
	}
	for _, t := range extra {
		add(t)
	}
	if ambiguous {
		return "", ErrAmbiguousToken
	}
	return token, nil
}
