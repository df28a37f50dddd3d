package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// hostnamePattern is a host name as Parley compares it: dot-separated,
// non-empty labels of lower-case letters, digits, '-' and '_' (an
// internationalised name is written in its xn-- form).
const hostnamePattern = `^[a-z0-9_-]+(\.[a-z0-9_-]+)*$`

// CanonicalHost is the form in which PARLEY_DOMAINS hosts and request Host
// headers are compared: trimmed, lower case, without a port, without the
// brackets of an IPv6 literal and without a trailing dot. So
// "Chat.Example.COM.:8443" and "chat.example.com" are the same host.
func CanonicalHost(host string) string {
	host = strings.TrimSpace(host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// parseDomains reads PARLEY_DOMAINS ("host=handle,host=handle") into a map
// keyed by canonical host. An entry that no request could ever match is an
// error: an empty or malformed host, a port that is not a number, or a host
// that, once canonical, is listed again for another handle. The handles are
// checked by validate.
func parseDomains(raw string) (map[string]string, error) {
	if strings.TrimSpace(raw) == "" {
		return map[string]string{}, nil
	}
	name := regexp.MustCompile(hostnamePattern)
	out := map[string]string{}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%sDOMAINS: %s", Prefix, fmt.Sprintf(format, args...)))
	}
	for _, entry := range strings.Split(raw, ",") {
		host, handle, ok := strings.Cut(entry, "=")
		host, handle = strings.TrimSpace(host), strings.TrimSpace(handle)
		if !ok {
			bad("entry %q is not host=handle", strings.TrimSpace(entry))
			continue
		}
		if h, port, err := net.SplitHostPort(host); err == nil {
			if n, err := strconv.Atoi(port); port != "" && (err != nil || n < 1 || n > 65535) {
				bad("host %q has an invalid port %q (ports are ignored when matching; leave it out)", host, port)
				continue
			}
			host = h
		}
		canon := CanonicalHost(host)
		if canon == "" || (net.ParseIP(canon) == nil && !name.MatchString(canon)) {
			bad("host %q can never match a request Host: want a host name (letters, digits, '-', '_', dots) or an IP address", host)
			continue
		}
		if prev, dup := out[canon]; dup && prev != handle {
			bad("host %q is listed for both %q and %q (hosts are compared without case, port or trailing dot)", canon, prev, handle)
			continue
		}
		out[canon] = handle
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
