package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// devSecret returns the dev server's HS256 secret and the file that keeps
// it, so tokens printed (and a demo opened) before a restart of `go run .`
// still work after it. The file is parley/dev-secret under the user's
// config directory (else cache directory), mode 0600; it is made on first
// use. With neither directory writable the secret is random and path is ""
// (a warning says why).
func devSecret() (secret, path string, err error) {
	var tried []string
	for _, dir := range []func() (string, error){os.UserConfigDir, os.UserCacheDir} {
		base, err := dir()
		if err != nil {
			tried = append(tried, err.Error())
			continue
		}
		p := filepath.Join(base, "parley", "dev-secret")
		s, err := loadOrMakeSecret(p)
		if err == nil {
			return s, p, nil
		}
		tried = append(tried, err.Error())
	}
	s, err := randomSecret()
	if err != nil {
		return "", "", err
	}
	return s, "", errors.New(strings.Join(tried, "; "))
}

func loadOrMakeSecret(p string) (string, error) {
	if b, err := os.ReadFile(p); err == nil {
		s := strings.TrimSpace(string(b))
		if _, herr := hex.DecodeString(s); herr == nil && len(s) >= 64 {
			return s, nil
		}
	}
	s, err := randomSecret()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(p, []byte(s+"\n"), 0o600); err != nil {
		return "", err
	}
	if err := os.Chmod(p, 0o600); err != nil { // an existing file keeps its mode on WriteFile
		return "", err
	}
	return s, nil
}

func randomSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("dev secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}
