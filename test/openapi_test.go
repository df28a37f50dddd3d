package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"parley/api"
)

// contract is the OpenAPI document, loaded, validated and routed once per
// test binary.
type contract struct {
	doc    *openapi3.T
	router routers.Router
	err    error
}

var (
	contractOnce sync.Once
	theContract  contract
)

func loadContract(t testing.TB) contract {
	t.Helper()
	contractOnce.Do(func() {
		c := &theContract
		loader := openapi3.NewLoader()
		if c.doc, c.err = loader.LoadFromData(api.SpecYAML()); c.err != nil {
			return
		}
		if c.err = c.doc.Validate(context.Background()); c.err != nil {
			return
		}
		c.router, c.err = gorillamux.NewRouter(c.doc)
	})
	if theContract.err != nil {
		t.Fatalf("api/openapi.yaml: %v", theContract.err)
	}
	return theContract
}

// checkContract fails t unless the response (status, headers, raw body) to
// req is one api/openapi.yaml allows: the documented response of the
// matched operation, or the 404/405 error envelope for a path or method the
// document does not list.
func checkContract(t testing.TB, req *http.Request, status int, header http.Header, raw []byte) {
	t.Helper()
	if req.Method == http.MethodOptions {
		return // CORS preflights are the browser's protocol, not the API's
	}
	if err := contractError(t, req, status, header, raw); err != nil {
		t.Errorf("%s %s: response %d violates api/openapi.yaml: %v\nbody: %s", req.Method, req.URL.RequestURI(), status, err, raw)
	}
}

func contractError(t testing.TB, req *http.Request, status int, header http.Header, raw []byte) error {
	t.Helper()
	c := loadContract(t)
	route, params, err := c.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		return c.schemaError("Error404", status, http.StatusNotFound, raw)
	case errors.Is(err, routers.ErrMethodNotAllowed):
		return c.schemaError("Error405", status, http.StatusMethodNotAllowed, raw)
	case err != nil:
		return err
	}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(raw)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
}

// schemaError checks an answer outside every documented operation: its
// status must be want and its body the named component schema.
func (c contract) schemaError(schema string, status, want int, raw []byte) error {
	if status != want {
		return errors.New("no documented operation, and the status is not " + http.StatusText(want))
	}
	return c.validateJSON(schema, raw)
}

// validateJSON checks raw against the component schema name.
func (c contract) validateJSON(name string, raw []byte) error {
	ref := c.doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		return errors.New("no component schema " + name)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	return ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors())
}

// checkEventContract fails t unless the payload of a Socket.IO event with a
// documented schema matches it.
func checkEventContract(t testing.TB, event string, payload []byte) {
	t.Helper()
	schema, ok := map[string]string{
		"message:new":       "MessageNewEvent",
		"message:edit":      "MessageEditEvent",
		"message:delete":    "MessageDeleteEvent",
		"message:read":      "MessageReadEvent",
		"session:expired":   "SessionExpiredEvent",
		"disconnect_reason": "DisconnectReasonEvent",
		"typing":            "TypingEvent",
		"presence":          "PresenceEvent",
		"resync":            "ResyncEvent",
		"ready":             "ReadyEvent",
	}[event]
	if !ok {
		return
	}
	if err := loadContract(t).validateJSON(schema, payload); err != nil {
		t.Errorf("event %s violates api/openapi.yaml %s: %v\npayload: %s", event, schema, err, payload)
	}
}

// TestContractCatchesDrift proves the check is not vacuous: answers that
// differ from the document in shape, status or type fail it.
func TestContractCatchesDrift(t *testing.T) {
	t.Parallel()
	jsonCT := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	tests := []struct {
		name         string
		method, path string
		status       int
		body         string
		wantOK       bool
	}{
		{"healthz ok", "GET", "/healthz", 200, `{"status":"ok"}`, true},
		{"healthz extra field", "GET", "/healthz", 200, `{"status":"ok","x":1}`, false},
		{"undocumented status", "GET", "/healthz", 500, `{"error":true,"code":"INTERNAL_ERROR","name":"InternalError","message":"m","status":500}`, false},
		{"envelope with wrong code for status", "GET", "/api/list", 401, `{"error":true,"code":"FORBIDDEN","name":"ForbiddenError","message":"m","status":401}`, false},
		{"envelope without message", "GET", "/api/list", 401, `{"error":true,"code":"NOT_AUTHENTICATED","name":"UnauthenticatedError","status":401}`, false},
		{"envelope without name", "GET", "/api/list", 401, `{"error":true,"code":"NOT_AUTHENTICATED","message":"m","status":401}`, false},
		{"envelope with an unknown name", "GET", "/api/list", 401, `{"error":true,"code":"NOT_AUTHENTICATED","name":"Oops","message":"m","status":401}`, false},
		{"old 401 code", "GET", "/api/list", 401, `{"error":true,"code":"UNAUTHORIZED","name":"UnauthenticatedError","message":"m","status":401}`, false},
		{"good 401", "GET", "/api/list", 401, `{"error":true,"code":"NOT_AUTHENTICATED","name":"UnauthenticatedError","message":"m","status":401}`, true},
		{"invalid target 400", "GET", "/api/villain/1", 400, `{"error":true,"code":"MESSAGES_INVALID_TARGET","name":"ArgumentError","message":"m","status":400}`, true},
		{"unknown path 404", "GET", "/nope", 404, `{"error":true,"code":"NOT_FOUND","name":"RouteNotFoundError","message":"m","status":404}`, true},
		{"unknown path 200", "GET", "/nope", 200, `{}`, false},
		{"other method 405", "PUT", "/api/user/2", 405, `{"error":true,"code":"METHOD_NOT_ALLOWED","name":"MethodNotAllowedError","message":"m","status":405}`, true},
		{"send with string epoch", "POST", "/api/user/2", 201,
			`{"state":{"key":"d:dm:1-2","inbox_key":"user-2"},"entry":{"id":"01a209a4-bd11-75c2-945e-1e99d586633a","author":1,"timestamp":{"epoch":"1","iso":"2026-11-23T18:22:00.977Z"},"type":"text","text":"hi"}}`, false},
		{"good send", "POST", "/api/user/2", 201,
			`{"state":{"key":"d:dm:1-2","inbox_key":"user-2"},"entry":{"id":"01a209a4-bd11-75c2-945e-1e99d586633a","author":1,"timestamp":{"epoch":1,"iso":"2026-11-23T18:22:00.977Z"},"type":"text","text":"hi"}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://127.0.0.1:1"+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = contractError(t, req, tt.status, jsonCT, []byte(tt.body))
			if got := err == nil; got != tt.wantOK {
				t.Errorf("valid = %v, want %v (err %v)", got, tt.wantOK, err)
			}
		})
	}
}
