package userapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// User is the platform's view of one user, as shown next to messages.
//
// Username and Role are shared with the cache: callers must not modify their
// bytes.
type User struct {
	// ID is always the requested id; the API's own id field is ignored.
	ID string `json:"id"`
	// Username is the API's "username" value verbatim (normally a JSON
	// string), or JSON null when unknown.
	Username json.RawMessage `json:"username"`
	// Role is the API's "role" value verbatim (normally an object), or JSON
	// null when unknown.
	Role json.RawMessage `json:"role"`
	// Found is false for the [Fallback] object.
	Found bool `json:"-"`
}

// Fallback returns the user shown when the user API has no answer for id:
// the id with a null username and role, and Found false.
func Fallback(id string) User {
	return User{ID: id, Username: jsonNull(), Role: jsonNull()}
}

func jsonNull() json.RawMessage { return json.RawMessage("null") }

// decodeUser parses a 200 response body into a found User for id. The body
// must be a JSON object, either the user itself or a {"user": {...}} or
// {"data": {...}} wrapper; missing fields become null.
func decodeUser(id string, body []byte) (User, error) {
	obj, err := decodeObject(body)
	if err != nil {
		return User{}, fmt.Errorf("decode body: %w", err)
	}
	_, hasName := obj["username"]
	_, hasRole := obj["role"]
	if !hasName && !hasRole {
		for _, key := range []string{"user", "data"} {
			raw, ok := obj[key]
			if !ok {
				continue
			}
			if obj, err = decodeObject(raw); err != nil {
				return User{}, fmt.Errorf("decode %q: %w", key, err)
			}
			break
		}
	}
	name, err := field(obj, "username")
	if err != nil {
		return User{}, err
	}
	role, err := field(obj, "role")
	if err != nil {
		return User{}, err
	}
	return User{ID: id, Username: name, Role: role, Found: true}, nil
}

// decodeObject decodes a JSON object; null, arrays and scalars are errors.
func decodeObject(b []byte) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, errors.New("got null, want a JSON object")
	}
	return obj, nil
}

// field returns obj[key] compacted, or null when the key is absent.
func field(obj map[string]json.RawMessage, key string) (json.RawMessage, error) {
	raw, ok := obj[key]
	if !ok {
		return jsonNull(), nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, fmt.Errorf("field %q: %w", key, err)
	}
	return b.Bytes(), nil
}
