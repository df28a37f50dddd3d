package server

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

//go:embed demo.html
var demoHTML []byte

// handleDemo serves the demo page: one static file, no third-party code.
func handleDemo(_ []DevUser) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Header("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
		c.Data(http.StatusOK, "text/html; charset=utf-8", demoHTML)
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
