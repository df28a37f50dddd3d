package chat

import (
	"strings"
)

// UserID is an opaque platform user id: 1–64 characters of [A-Za-z0-9_.-].
// A numeric JSON claim 42 and a path segment "42" are the same UserID, so a
// pair of users always shares one conversation.
type UserID string

// MaxIDLen bounds user ids, so keys stay small and nothing can grow them.
const MaxIDLen = 64

// ParseUserID validates s as a user id; it returns Invalid otherwise. "."
// and ".." are refused: as URL path segments they mean "here" and "up", so
// clients normalise them away and such a user could never be addressed.
func ParseUserID(s string) (UserID, error) {
	if !validToken(s, MaxIDLen, isIDByte) || s == "." || s == ".." {
		return "", E("chat.ParseUserID", Invalid, "user id must be 1-64 characters of A-Z a-z 0-9 _ . - (not . or ..)", nil)
	}
	return UserID(s), nil
}

// IsNumeric reports whether the id is a decimal integer that JSON can carry
// exactly as a number: digits only, no leading zero, at most 15 digits.
func (u UserID) IsNumeric() bool {
	s := string(u)
	if len(s) == 0 || len(s) > 15 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	return allDigits(s)
}

// less orders two ids numerically when both are plain decimal numbers (so
// 9 < 10), else bytewise. Equal numbers spelt differently ("042" and "42")
// fall back to bytewise, so the order is total.
func less(a, b UserID) bool {
	sa, sb := string(a), string(b)
	if allDigits(sa) && allDigits(sb) {
		ta, tb := strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
		if len(ta) != len(tb) {
			return len(ta) < len(tb)
		}
		if ta != tb {
			return ta < tb
		}
	}
	return sa < sb
}

// Domain is a tenant handle: 1–32 characters of [a-z0-9_-]. Every Redis key
// starts with it, so two domains never see each other's data.
type Domain string

// ParseDomain validates s as a domain handle; it returns Invalid otherwise.
func ParseDomain(s string) (Domain, error) {
	if !validToken(s, 32, isDomainByte) {
		return "", E("chat.ParseDomain", Invalid, "domain must be 1-32 characters of a-z 0-9 _ -", nil)
	}
	return Domain(s), nil
}

func validToken(s string, max int, ok func(byte) bool) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

func isDomainByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
