package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// FuzzDecodeJSON drives decodeJSON through a Gin test context with the
// send handler's body shape: it never panics, every refusal maps to a 4xx
// (never a 5xx), and what it accepts is one valid UTF-8 JSON object within
// the size limit.
func FuzzDecodeJSON(f *testing.F) {
	f.Add("application/json", []byte(`{"type":"text","text":"hi"}`))
	f.Add("application/json; charset=utf-8", []byte(`{"type":"image","image":"https://cdn.example/a.png","extra":[1,2]}`))
	f.Add("application/json", []byte(`{"type":"text","text":null}`))
	f.Add("application/json", []byte(`{"type":"text","text":5}`))
	f.Add("application/json", []byte("{\"text\":\"a\xffb\"}"))
	f.Add("application/json", []byte(`{"a":1}{"a":2}`))
	f.Add("application/json", []byte(`[{"text":"x"}]`))
	f.Add("application/json", []byte(`{"text":"`))
	f.Add("text/plain", []byte(`{"text":"x"}`))
	f.Add("", []byte(``))
	f.Add("application/json", bytes.Repeat([]byte("a"), 600))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		const max = 512
		type request struct {
			Type  *string `json:"type"`
			Text  *string `json:"text"`
			Image *string `json:"image"`
		}
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		req := httptest.NewRequest(http.MethodPost, "/api/user/2", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		c.Request = req
		var dst request
		err := decodeJSON(c, max, &dst)
		if err != nil {
			if st := classify(err).Status; st < 400 || st >= 500 {
				t.Fatalf("decodeJSON error %v classified as %d, want 4xx", err, st)
			}
			return
		}
		if len(body) > max {
			t.Fatalf("accepted a body of %d bytes over the %d limit", len(body), max)
		}
		// decodeJSON trims Unicode white space around the object (a
		// harmless leniency: "{}\v" is accepted), so the object itself must
		// be valid JSON.
		if !utf8.Valid(body) || !json.Valid(bytes.TrimSpace(body)) {
			t.Fatalf("accepted invalid JSON or UTF-8: %q", body)
		}
		for _, s := range []*string{dst.Type, dst.Text, dst.Image} {
			if s != nil && !utf8.ValidString(*s) {
				t.Fatalf("decoded a field that is not valid UTF-8: %q", *s)
			}
		}
	})
}
