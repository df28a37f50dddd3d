package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"parley/chat"
)

// decodeJSON reads a JSON object of at most max bytes into dst. It refuses
// other content types (415), larger bodies (413), invalid UTF-8, anything but
// one JSON object, and fields of the wrong type (400). Unknown fields are
// ignored: the seed's clients send extras.
func decodeJSON(c *gin.Context, max int64, dst any) error {
	const op = "server.decodeJSON"
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		return errNotJSON
	}
	if c.Request.ContentLength > max {
		return errTooLarge
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, max))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errTooLarge
		}
		return chat.E(op, chat.Invalid, "could not read the request body", err)
	}
	if !utf8.Valid(raw) {
		return chat.E(op, chat.Invalid, "request body must be valid UTF-8", nil)
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return chat.E(op, chat.Invalid, "request body must be a JSON object", nil)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return chat.E(op, chat.Invalid, fmt.Sprintf("%q must be a %s", typeErr.Field, typeErr.Type), err)
		}
		return chat.E(op, chat.Invalid, "request body is not valid JSON", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return chat.E(op, chat.Invalid, "request body must hold exactly one JSON object", nil)
	}
	return nil
}
