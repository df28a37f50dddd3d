package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// demoEngine is the real route table with only what the static pages need.
func demoEngine(users []DevUser) *gin.Engine {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	addRoutes(r, routeDeps{devTokens: users})
	return r
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

// TestHomeLinksToDemoInDevMode: on the dev server `/` is a page linking to
// the demo; elsewhere it stays the JSON 404 of any unknown route.
func TestHomeLinksToDemoInDevMode(t *testing.T) {
	dev := demoEngine([]DevUser{{ID: "1", Token: "t1"}})
	w := get(t, dev, "/")
	if w.Code != http.StatusOK {
		t.Fatalf("dev mode GET /: status %d, body %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("dev mode GET /: Content-Type %q", ct)
	}
	if !strings.Contains(w.Body.String(), `href="/demo"`) {
		t.Errorf("dev mode GET / does not link to /demo: %s", w.Body)
	}
	if strings.Contains(w.Body.String(), "t1") {
		t.Errorf("dev mode GET / shows a token: %s", w.Body)
	}

	prod := demoEngine(nil)
	w = get(t, prod, "/")
	if w.Code != http.StatusNotFound {
		t.Fatalf("GET / outside dev mode: status %d, body %s", w.Code, w.Body)
	}
	var body apiError
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Status != http.StatusNotFound {
		t.Errorf("GET / outside dev mode: not the error envelope: %s", w.Body)
	}
}

// TestDemoPageMayShowImagesAndItsIcon: the demo's policy lets <img> load
// the http(s) URLs of image messages and the inline (data:) favicon, and
// still runs no script from elsewhere.
func TestDemoPageMayShowImagesAndItsIcon(t *testing.T) {
	for _, path := range []string{"/demo", "/"} {
		w := get(t, demoEngine([]DevUser{{ID: "1", Token: "t1"}}), path)
		csp := w.Header().Get("Content-Security-Policy")
		directives := map[string]string{}
		for _, d := range strings.Split(csp, ";") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
			directives[name] = value
		}
		img := " " + directives["img-src"] + " "
		for _, src := range []string{"https:", "http:", "data:"} {
			if !strings.Contains(img, " "+src+" ") {
				t.Errorf("%s: img-src %q lacks %s (CSP %q)", path, directives["img-src"], src, csp)
			}
		}
		if directives["default-src"] != "'self'" || directives["script-src"] != "'unsafe-inline'" {
			t.Errorf("%s: CSP %q loosened default-src or script-src", path, csp)
		}
		if !strings.Contains(w.Body.String(), `rel="icon" href="data:image/svg+xml,`) {
			t.Errorf("%s: no inline SVG favicon", path)
		}
	}
}
