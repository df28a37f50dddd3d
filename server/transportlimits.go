package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// socketMaxPayload is the largest Engine.IO payload a client may send: one
// websocket message or one polling POST body. Engine.IO announces it to
// clients as maxPayload.
const socketMaxPayload = 64 << 10

// limitSocketPayloads enforces socketMaxPayload before anything is read
// (zishang520/engine.io v2.5.0 announces it but reads a chunked polling body
// whole, and inflates a compressed websocket message without a limit):
//
//   - a polling POST body larger than max, whatever its framing, is
//     answered 413 with the error envelope, having read at most max+1
//     bytes of it;
//   - a websocket handshake's offer of permessage-deflate is dropped, so
//     messages arrive uncompressed and the engine's read limit on the
//     connection (wire bytes) is the limit on the message.
func limitSocketPayloads(max int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Sec-WebSocket-Extensions")
		if r.Method != http.MethodPost || r.Body == nil || r.Body == http.NoBody {
			h.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > max {
			writeHTTPError(w, errTooLarge)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeHTTPError(w, errTooLarge)
			}
			return // the client went away mid-body: nobody reads an answer
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		h.ServeHTTP(w, r)
	})
}

// writeHTTPError is writeError for plain net/http handlers in front of
// Engine.IO: the same envelope and Retry-After, from the same table.
func writeHTTPError(w http.ResponseWriter, err error) {
	body := classify(err)
	if errors.Is(err, errTooManyPending) {
		// Pending sessions end within PARLEY_SOCKET_AUTH_TIMEOUT.
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(body.Status)
	_ = json.NewEncoder(w).Encode(body)
}
