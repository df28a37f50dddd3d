package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestErrors runs every error the API can answer through one server: each
// must carry the flat envelope with its HTTP status and leave Redis
// unchanged, and none may be a 5xx.
func TestErrors(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_MAX_TEXT": "10"})
	u1, u2, u3 := n.tok(t, 1, nil), n.tok(t, 2, nil), n.tok(t, 3, nil)
	m12 := n.sendText(t, u1, "2", "hello")["id"].(string)
	m13 := n.sendText(t, u1, "3", "elsewhere")["id"].(string)
	r := n.send(t, u1, "2", map[string]any{"type": "image", "image": "https://cdn.example/a.png"})
	mustStatus(t, r, http.StatusCreated)
	img := obj(t, r.obj, "entry")["id"].(string)

	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"user_id": 1, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(n.secret))
	if err != nil {
		t.Fatal(err)
	}
	ok := `{"type":"text","text":"hi"}`
	unknownID := "0190a0a0-0000-7000-8000-000000000000"
	long := strings.Repeat("a", 65)
	type tc struct {
		name   string
		c      call
		status int
		code   string
	}
	send := func(name, body string, status int, code string) tc {
		return tc{name, call{method: "POST", path: "/api/user/2", token: u1, body: body}, status, code}
	}
	edit := func(name, tok, path, body string, status int, code string) tc {
		return tc{name, call{method: "POST", path: path, token: tok, body: body}, status, code}
	}
	del := func(name, tok, path string, status int, code string) tc {
		return tc{name, call{method: "DELETE", path: path, token: tok}, status, code}
	}
	auth := func(name, token string, code string) []tc {
		return []tc{
			{name + " (list)", call{method: "GET", path: "/api/list", token: token}, 401, code},
			{name + " (send)", call{method: "POST", path: "/api/user/2", token: token, body: ok}, 401, code},
		}
	}
	tests := []tc{
		// 400: ids.
		{"id with colon", call{method: "POST", path: "/api/user/30:data", token: u1, body: ok}, 400, "BAD_REQUEST"},
		{"id with star", call{method: "POST", path: "/api/user/a*", token: u1, body: ok}, 400, "BAD_REQUEST"},
		{"id with braces", call{method: "POST", path: "/api/user/%7Bx%7D", token: u1, body: ok}, 400, "BAD_REQUEST"},
		{"id of 65 chars", call{method: "POST", path: "/api/user/" + long, token: u1, body: ok}, 400, "BAD_REQUEST"},
		{"id with space", call{method: "POST", path: "/api/user/a%20b", token: u1, body: ok}, 400, "BAD_REQUEST"},
		{"id non-ascii", call{method: "POST", path: "/api/user/%C3%A9", token: u1, body: ok}, 400, "BAD_REQUEST"},
		{"history id with colon", call{method: "GET", path: "/api/user/30:data", token: u1}, 400, "BAD_REQUEST"},
		{"history id with star", call{method: "GET", path: "/api/user/a*", token: u1}, 400, "BAD_REQUEST"},
		{"history id of 65 chars", call{method: "GET", path: "/api/user/" + long, token: u1}, 400, "BAD_REQUEST"},
		{"edit bad peer id", call{method: "POST", path: "/api/user/a*/" + m12, token: u1, body: `{"text":"x"}`}, 400, "BAD_REQUEST"},
		{"delete bad peer id", call{method: "DELETE", path: "/api/user/30:data/" + m12, token: u1}, 400, "BAD_REQUEST"},
		{"message yourself", call{method: "POST", path: "/api/user/1", token: u1, body: ok}, 400, "BAD_REQUEST"},
		{"history with yourself", call{method: "GET", path: "/api/user/1", token: u1}, 400, "BAD_REQUEST"},
		// 400: bodies.
		send("empty text", `{"type":"text","text":""}`, 400, "BAD_REQUEST"),
		send("blank text", `{"type":"text","text":" \n\t "}`, 400, "BAD_REQUEST"),
		send("null text", `{"type":"text","text":null}`, 400, "BAD_REQUEST"),
		send("no text", `{"type":"text"}`, 400, "BAD_REQUEST"),
		send("empty object", `{}`, 400, "BAD_REQUEST"),
		send("text is a number", `{"type":"text","text":5}`, 400, "BAD_REQUEST"),
		send("text is an array", `{"type":"text","text":["a"]}`, 400, "BAD_REQUEST"),
		send("text is an object", `{"type":"text","text":{"a":1}}`, 400, "BAD_REQUEST"),
		send("text is a bool", `{"type":"text","text":true}`, 400, "BAD_REQUEST"),
		send("text one over the limit", `{"type":"text","text":"12345678901"}`, 400, "BAD_REQUEST"),
		send("emoji one over the limit", `{"type":"text","text":"`+strings.Repeat("😀", 11)+`"}`, 400, "BAD_REQUEST"),
		send("invalid UTF-8 body", "{\"type\":\"text\",\"text\":\"a\xffb\"}", 400, "BAD_REQUEST"),
		send("unknown type", `{"type":"video","text":"hi"}`, 400, "MESSAGES_INVALID_TYPE"),
		send("type is a number", `{"type":1,"text":"hi"}`, 400, "BAD_REQUEST"),
		send("image javascript", `{"type":"image","image":"javascript:alert(1)"}`, 400, "BAD_REQUEST"),
		send("image ftp", `{"type":"image","image":"ftp://cdn.example/a.png"}`, 400, "BAD_REQUEST"),
		send("image relative", `{"type":"image","image":"/a.png"}`, 400, "BAD_REQUEST"),
		send("image data URL", `{"type":"image","image":"data:image/png;base64,AAAA"}`, 400, "BAD_REQUEST"),
		send("image missing", `{"type":"image"}`, 400, "BAD_REQUEST"),
		send("text with an image", `{"type":"text","text":"hi","image":"https://cdn.example/a.png"}`, 400, "BAD_REQUEST"),
		send("malformed JSON", `{"type":"text",`, 400, "BAD_REQUEST"),
		send("truncated JSON", `{"type":"text","text":"hi"`, 400, "BAD_REQUEST"),
		send("single quotes", `{'type':'text'}`, 400, "BAD_REQUEST"),
		send("empty body", ``, 400, "BAD_REQUEST"),
		send("null body", `null`, 400, "BAD_REQUEST"),
		send("string body", `"hi"`, 400, "BAD_REQUEST"),
		send("JSON array", `[`+ok+`]`, 400, "BAD_REQUEST"),
		send("two objects", ok+ok, 400, "BAD_REQUEST"),
		send("two objects with space", ok+"\n"+ok, 400, "BAD_REQUEST"),
		send("trailing garbage", ok+" x", 400, "BAD_REQUEST"),
		// 400: edits.
		edit("status other than seen", u2, "/api/user/1/"+m12, `{"status":"read"}`, 400, "BAD_REQUEST"),
		edit("status empty", u2, "/api/user/1/"+m12, `{"status":""}`, 400, "BAD_REQUEST"),
		edit("status is a number", u2, "/api/user/1/"+m12, `{"status":1}`, 400, "BAD_REQUEST"),
		edit("nothing to change", u1, "/api/user/2/"+m12, `{}`, 400, "BAD_REQUEST"),
		edit("null text and status", u1, "/api/user/2/"+m12, `{"text":null,"status":null}`, 400, "BAD_REQUEST"),
		edit("blank edit", u1, "/api/user/2/"+m12, `{"text":"  "}`, 400, "BAD_REQUEST"),
		edit("edit over the limit", u1, "/api/user/2/"+m12, `{"text":"12345678901"}`, 400, "BAD_REQUEST"),
		edit("edit an image", u1, "/api/user/2/"+img, `{"text":"x"}`, 400, "BAD_REQUEST"),
		edit("edit malformed JSON", u1, "/api/user/2/"+m12, `{"text":`, 400, "BAD_REQUEST"),
		edit("edit JSON array", u1, "/api/user/2/"+m12, `[]`, 400, "BAD_REQUEST"),
		edit("edit yourself", u1, "/api/user/1/"+m12, `{"text":"x"}`, 400, "BAD_REQUEST"),
		// 403.
		edit("edit someone else's message", u2, "/api/user/1/"+m12, `{"text":"mine now"}`, 403, "FORBIDDEN"),
		edit("text and seen by the recipient", u2, "/api/user/1/"+m12, `{"text":"x","status":"seen"}`, 403, "FORBIDDEN"),
		edit("author marks own message seen", u1, "/api/user/2/"+m12, `{"status":"seen"}`, 403, "FORBIDDEN"),
		del("delete someone else's message", u2, "/api/user/1/"+m12, 403, "FORBIDDEN"),
		// 404.
		edit("edit unknown message", u1, "/api/user/2/"+unknownID, `{"text":"x"}`, 404, "NOT_FOUND"),
		edit("edit message of another DM", u1, "/api/user/2/"+m13, `{"text":"x"}`, 404, "NOT_FOUND"),
		edit("seen message of another DM", u2, "/api/user/1/"+m13, `{"status":"seen"}`, 404, "NOT_FOUND"),
		edit("edit malformed message id", u1, "/api/user/2/nope", `{"text":"x"}`, 404, "NOT_FOUND"),
		edit("edit uppercase message id", u1, "/api/user/2/"+strings.ToUpper(m12), `{"text":"x"}`, 404, "NOT_FOUND"),
		edit("edit braced message id", u1, "/api/user/2/%7B"+m12+"%7D", `{"text":"x"}`, 404, "NOT_FOUND"),
		del("delete unknown message", u1, "/api/user/2/"+unknownID, 404, "NOT_FOUND"),
		del("delete message of another DM", u1, "/api/user/2/"+m13, 404, "NOT_FOUND"),
		del("delete malformed message id", u1, "/api/user/2/123", 404, "NOT_FOUND"),
		del("delete via the third party", u3, "/api/user/2/"+m12, 404, "NOT_FOUND"),
		{"unknown api route", call{method: "GET", path: "/api/nope", token: u1}, 404, "NOT_FOUND"},
		{"unknown route", call{method: "GET", path: "/nope"}, 404, "NOT_FOUND"},
		{"too deep", call{method: "POST", path: "/api/user/2/" + m12 + "/x", token: u1, body: ok}, 404, "NOT_FOUND"},
		// 405.
		{"PUT a conversation", call{method: "PUT", path: "/api/user/2", token: u1, body: ok}, 405, "METHOD_NOT_ALLOWED"},
		{"DELETE a conversation", call{method: "DELETE", path: "/api/user/2", token: u1}, 405, "METHOD_NOT_ALLOWED"},
		{"PATCH a message", call{method: "PATCH", path: "/api/user/2/" + m12, token: u1, body: `{"text":"x"}`}, 405, "METHOD_NOT_ALLOWED"},
		{"POST the inbox", call{method: "POST", path: "/api/list", token: u1, body: ok}, 405, "METHOD_NOT_ALLOWED"},
		// 413.
		send("70 KB body", `{"type":"text","text":"`+strings.Repeat("a", 70<<10)+`"}`, 413, "PAYLOAD_TOO_LARGE"),
		edit("70 KB edit", u1, "/api/user/2/"+m12, `{"text":"`+strings.Repeat("a", 70<<10)+`"}`, 413, "PAYLOAD_TOO_LARGE"),
		{"70 KB chunked body", call{method: "POST", path: "/api/user/2", token: u1,
			body: io.MultiReader(strings.NewReader(`{"type":"text","text":"`), strings.NewReader(strings.Repeat("a", 70<<10)), strings.NewReader(`"}`))},
			413, "PAYLOAD_TOO_LARGE"},
		// 415.
		{"text/plain", call{method: "POST", path: "/api/user/2", token: u1, body: ok, contentType: "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"no content type", call{method: "POST", path: "/api/user/2", token: u1, body: ok, contentType: "-"}, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"form", call{method: "POST", path: "/api/user/2", token: u1, body: "text=hi", contentType: "application/x-www-form-urlencoded"}, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"json-ish", call{method: "POST", path: "/api/user/2", token: u1, body: ok, contentType: "application/json-patch+json"}, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"edit text/plain", call{method: "POST", path: "/api/user/2/" + m12, token: u1, body: `{"text":"x"}`, contentType: "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"},
	}
	tests = append(tests, auth("no token", "", "NOT_AUTHENTICATED")...)
	tests = append(tests, auth("blank token", "   ", "NOT_AUTHENTICATED")...)
	tests = append(tests, auth("garbage token", "garbage", "INVALID_TOKEN_ERR")...)
	tests = append(tests, auth("three garbage segments", "a.b.c", "INVALID_TOKEN_ERR")...)
	tests = append(tests, auth("expired", n.tok(t, 1, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), "INVALID_TOKEN_ERR")...)
	tests = append(tests, auth("wrong secret", signed(t, randomHex(t, 32), 1, nil), "INVALID_TOKEN_ERR")...)
	tests = append(tests, auth("alg none", unsignedToken(map[string]any{"user_id": 1, "exp": time.Now().Add(time.Hour).Unix()}), "INVALID_TOKEN_ERR")...)
	tests = append(tests, auth("alg HS512 not allowed", hs512, "INVALID_TOKEN_ERR")...)
	tests = append(tests, auth("missing user claim", n.tok(t, nil, nil), "INVALID_TOKEN_ERR")...)
	tests = append(tests, auth("user claim bool", n.tok(t, true, nil), "INVALID_TOKEN_ERR")...)
	tests = append(tests, auth("user claim empty", n.tok(t, "", nil), "INVALID_TOKEN_ERR")...)
	tests = append(tests, auth("user claim negative", n.tok(t, -1, nil), "INVALID_TOKEN_ERR")...)
	tests = append(tests, auth("user claim fraction", n.tok(t, 1.5, nil), "INVALID_TOKEN_ERR")...)
	tests = append(tests, auth("user claim object", n.tok(t, map[string]any{"id": 1}, nil), "INVALID_TOKEN_ERR")...)
	tests = append(tests, auth("user claim not an id", n.tok(t, "a*b", nil), "INVALID_TOKEN_ERR")...)
	tests = append(tests, auth("user claim too long", n.tok(t, long, nil), "INVALID_TOKEN_ERR")...)
	tests = append(tests, auth("no exp", n.tok(t, 1, map[string]any{"exp": nil}), "INVALID_TOKEN_ERR")...)
	tests = append(tests, auth("not yet valid", n.tok(t, 1, map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}), "INVALID_TOKEN_ERR")...)
	tests = append(tests, auth("exp is a string", n.tok(t, 1, map[string]any{"exp": "tomorrow"}), "INVALID_TOKEN_ERR")...)
	tests = append(tests, tc{"basic auth", call{method: "GET", path: "/api/list", header: map[string]string{"Authorization": "Basic " + u1}}, 401, "NOT_AUTHENTICATED"})
	tests = append(tests, tc{"bearer garbage", call{method: "GET", path: "/api/list", header: map[string]string{"Authorization": "Bearer x.y.z"}}, 401, "INVALID_TOKEN_ERR"})

	fivexx := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := redisSnapshot(t, n.rdb, n.prefix)
			r := n.do(t, tt.c)
			if r.status >= 500 {
				fivexx++
			}
			wantError(t, r, tt.status, tt.code)
			d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix))
			tally.record(r.status, d != "")
			if d != "" {
				t.Errorf("Redis changed:\n%s", d)
			}
		})
	}

	t.Run("10 MB body", func(t *testing.T) {
		before := redisSnapshot(t, n.rdb, n.prefix)
		r := rawPost(t, n, "/api/user/2", u1, 10<<20)
		if r.status >= 500 {
			fivexx++
		}
		wantError(t, r, 413, "PAYLOAD_TOO_LARGE")
		d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix))
		tally.record(r.status, d != "")
		if d != "" {
			t.Errorf("Redis changed:\n%s", d)
		}
	})
	if fivexx > 0 {
		t.Errorf("%d responses were 5xx", fivexx)
	}

	// The limits are inclusive: exactly PARLEY_MAX_TEXT characters pass.
	for _, text := range []string{strings.Repeat("😀", 10), "1234567890", "👍🏽👍🏽👍🏽👍🏽👍🏽"} {
		r := n.send(t, u1, "2", map[string]any{"type": "text", "text": text})
		mustStatus(t, r, http.StatusCreated)
		wantString(t, "text at the limit", obj(t, r.obj, "entry")["text"], text)
	}
	if got := assertConsistent(t, n, n.domain, "1", "2"); got != 5 {
		t.Errorf("conversation has %d messages, want 5", got)
	}
}

// rawPost sends a request that declares a body of size bytes but writes
// only its first 64 KB, then reads the response: the server must answer
// 413 without reading a huge body.
func rawPost(t *testing.T, n *node, path, token string, size int) reply {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(n.url, "http://"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nX-Auth-Token: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		path, strings.TrimPrefix(n.url, "http://"), token, size)
	if _, err := io.WriteString(conn, head+`{"type":"text","text":"`+strings.Repeat("a", 64<<10)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return decodeReply(t, resp.StatusCode, resp.Header, raw)
}
