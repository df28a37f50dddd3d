// Package config loads Parley's settings from PARLEY_* environment
// variables into a [Config] and validates them.
//
// The Config struct is the single source of truth: its env, envDefault and
// desc tags drive both parsing ([Load]) and the help text ([Variables]).
// Config stops at the server package, which hands plain values to the
// other packages.
//
// The package is a leaf: it imports only the standard library and
// github.com/caarlos0/env/v10.
package config
