package server

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

//go:embed demo.html
var demoHTML []byte

//go:embed home.html
var homeHTML []byte

// pageCSP is the policy of the static pages: their own inline script and
// style only, nothing fetched from elsewhere except images (image messages
// are http(s) URLs on any host; the favicon is a data: URL).
const pageCSP = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data: https: http:"

// handleDemo serves the demo page: one static file, no third-party code.
func handleDemo(_ []DevUser) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Content-Security-Policy", pageCSP)
		c.Data(http.StatusOK, "text/html; charset=utf-8", demoHTML)
	}
}

// handleHome serves `/` on the dev server: a page linking to the demo. Outside
// dev mode `/` is an unknown route.
func handleHome(users []DevUser) gin.HandlerFunc {
	return func(c *gin.Context) {
		if len(users) == 0 {
			writeError(c, nil, errNoRoute)
			return
		}
		c.Header("Content-Security-Policy", pageCSP)
		c.Data(http.StatusOK, "text/html; charset=utf-8", homeHTML)
	}
}

// handleDevTokens serves the dev users' tokens to the demo page; 404 outside
// dev mode.
func handleDevTokens(users []DevUser) gin.HandlerFunc {
	return func(c *gin.Context) {
		if len(users) == 0 {
			writeError(c, nil, errNoRoute)
			return
		}
		c.JSON(http.StatusOK, gin.H{"users": users})
	}
}
