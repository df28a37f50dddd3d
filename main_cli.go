package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"parley/auth"
	"parley/chat"
	"parley/config"
)

// command is a subcommand: it gets the arguments after its name.
type command func(args []string, environ map[string]string, stdout, stderr io.Writer) error

// commands are the subcommands `parley <name>` runs instead of the server.
func commands() map[string]command {
	return map[string]command{
		"migrate-keys": runMigrateKeys,
		"token":        runToken,
		"version":      runVersion,
		"webhooks":     runWebhooks,
	}
}

// subcommandUsage is the subcommand part of `parley --help`.
const subcommandUsage = `Usage:
  parley                 run the server (configured by the environment below)
  parley token --user ID [--domain HANDLE] [--ttl 1h]
                         print an HS256 token signed with PARLEY_JWT_SECRET (or the domain's
                         key in PARLEY_JWT_DOMAIN_KEYS_DIR), for local testing
  parley version         print the module version and VCS revision
  parley migrate-keys [--apply] [--cursor N] [--derive-unread]
                         move a keyspace from before the Redis Cluster hash tags to today's
                         names (SCAN + RENAMENX under PARLEY_KEY_PREFIX; a dry run without
                         --apply; idempotent and resumable; see parley migrate-keys --help)
  parley webhooks dead [-n N]
                         print the dead-lettered event webhooks as JSON lines
  parley webhooks replay [ID ...]
                         queue dead-lettered webhooks again (all when no id is given)
  parley --help          print this help
`

// usageError is bad usage of a subcommand (an unknown flag, a stray
// argument): the process exits 2, as flag.ExitOnError would.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// exitCode is the process's exit status for run's error.
func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// runToken mints an HS256 token for local testing with the configured
// secret, user claim and domain claim.
func runToken(args []string, environ map[string]string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parley token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "user id (required)")
	domain := fs.String("domain", "", "domain handle (default PARLEY_DEFAULT_DOMAIN), written to the PARLEY_JWT_DOMAIN_CLAIM claim; with PARLEY_JWT_DOMAIN_KEYS_DIR the token is signed with <dir>/<handle>.key")
	ttl := fs.Duration("ttl", time.Hour, "lifetime: exp = now + ttl")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // the usage is printed; asking for it is no failure
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token: unexpected argument %q", fs.Arg(0))
	}
	if *user == "" {
		return errors.New("token: --user is required: the id of the user the token is for (parley token --help)")
	}
	id, err := chat.ParseUserID(*user)
	if err != nil {
		return fmt.Errorf("token: --user: %s", chat.MessageOf(err))
	}
	if *ttl <= 0 {
		return errors.New("token: --ttl must be positive")
	}
	explicitDomain := *domain != ""
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	if *domain == "" {
		*domain = cfg.DefaultDomain
	}
	d, err := chat.ParseDomain(*domain)
	if err != nil {
		return fmt.Errorf("token: --domain: %s", chat.MessageOf(err))
	}
	secret := cfg.JWTSecret
	if cfg.JWTDomainKeysDir != "" {
		raw, err := os.ReadFile(filepath.Join(cfg.JWTDomainKeysDir, string(d)+".key"))
		if err != nil {
			return fmt.Errorf("token: PARLEY_JWT_DOMAIN_KEYS_DIR: %w (the token is signed with the domain's HMAC key, HS256)", err)
		}
		secret = strings.TrimRight(string(raw), "\r\n")
	}
	if secret == "" {
		return errors.New("token: PARLEY_JWT_SECRET is not set (the token is signed with it, HS256)")
	}
	now := time.Now()
	claims := map[string]any{"iat": now.Unix(), "exp": now.Add(*ttl).Unix()}
	claims[cfg.JWTUserClaim] = string(id)
	if id.IsNumeric() {
		n, _ := strconv.ParseInt(string(id), 10, 64)
		claims[cfg.JWTUserClaim] = n
	}
	if cfg.JWTIssuer != "" {
		claims["iss"] = cfg.JWTIssuer
	}
	if cfg.JWTAudience != "" {
		claims["aud"] = cfg.JWTAudience
	}
	switch {
	case cfg.JWTDomainClaim != "":
		claims[cfg.JWTDomainClaim] = string(d)
	case explicitDomain && cfg.JWTDomainKeysDir == "":
		fmt.Fprintln(stderr, "parley token: warning: PARLEY_JWT_DOMAIN_CLAIM is not set, so the server reads no domain from tokens: --domain left out")
	}
	tok, err := auth.SignHS256([]byte(secret), claims)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// runVersion prints the module version and, when the binary was built
// from a VCS checkout, the revision.
func runVersion(args []string, _ map[string]string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("version: unexpected argument %q", args[0])
	}
	_, err := fmt.Fprintln(stdout, versionString())
	return err
}

// versionString is "parley <version> [<revision>[+dirty] <time>] <go version>".
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "parley (unknown version)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	s := "parley " + v
	var rev, at, dirty string
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.time":
			at = kv.Value
		case "vcs.modified":
			if kv.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		s += " " + rev + dirty
		if at != "" {
			s += " " + at
		}
	}
	return s + " " + bi.GoVersion
}
