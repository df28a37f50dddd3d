package userapi

import (
	"errors"
	"fmt"
	"strings"
)

// parseHeader splits a "Name: value" header and validates both halves, so a
// configured value cannot inject extra header lines (CR/LF) into requests.
func parseHeader(s string) (name, value string, err error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", errors.New(`header must look like "Name: value"`)
	}
	if name == "" || strings.IndexFunc(name, func(r rune) bool { return !isTokenChar(r) }) >= 0 {
		return "", "", fmt.Errorf("invalid header name %q", name)
	}
	value = strings.Trim(value, " \t")
	for i := 0; i < len(value); i++ {
		if b := value[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return "", "", fmt.Errorf("header %s: value contains control character %#x", name, b)
		}
	}
	return name, value, nil
}

// isTokenChar reports whether r may appear in a header name (RFC 9110 tchar).
func isTokenChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return r < 0x80 && strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}
