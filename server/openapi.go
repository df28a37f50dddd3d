package server

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"gopkg.in/yaml.v3"
)

// openAPIJSON converts the YAML OpenAPI document to JSON, once at start-up.
func openAPIJSON(doc []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	v, err := jsonValue(v)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	return json.Marshal(v)
}

// jsonValue makes a decoded YAML value encodable as JSON: YAML allows
// non-string map keys, JSON does not.
func jsonValue(v any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			e, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			t[k] = e
		}
		return t, nil
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("map key %v is not a string", k)
			}
			e, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			m[ks] = e
		}
		return m, nil
	case []any:
		for i, e := range t {
			e, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			t[i] = e
		}
		return t, nil
	default:
		return v, nil
	}
}

// handleOpenAPI serves GET /openapi.json: the contract, converted at start-up.
func handleOpenAPI(doc []byte) gin.HandlerFunc {
	return func(c *gin.Context) { c.Data(http.StatusOK, "application/json; charset=utf-8", doc) }
}
