// Package api holds Parley's OpenAPI 3.1 document (openapi.yaml), the
// written contract of the REST API and of the Socket.IO event payloads. The
// server serves it as JSON at /openapi.json and the end-to-end tests
// validate every response they receive against it.
package api

import (
	_ "embed"
	"slices"
)

//go:embed openapi.yaml
var specYAML []byte

// SpecYAML returns a copy of the OpenAPI document as written (YAML).
func SpecYAML() []byte { return slices.Clone(specYAML) }
