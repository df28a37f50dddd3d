package auth_test

import (
	"net/http"
	"testing"

	"parley/auth"
)

func TestRequestTokenFromOneHeader(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		want   string
	}{
		{name: "none", want: ""},
		{name: "X-Auth-Token", header: map[string]string{"X-Auth-Token": "abc"}, want: "abc"},
		{name: "X-Auth-Token trimmed", header: map[string]string{"X-Auth-Token": "  abc "}, want: "abc"},
		{name: "bearer", header: map[string]string{"Authorization": "Bearer abc"}, want: "abc"},
		{name: "bearer lower case", header: map[string]string{"Authorization": "bearer abc"}, want: "abc"},
		{name: "bearer upper case", header: map[string]string{"Authorization": "BEARER abc"}, want: "abc"},
		{name: "bearer extra spaces", header: map[string]string{"Authorization": "Bearer    abc  "}, want: "abc"},
		{name: "blank X-Auth-Token falls back", header: map[string]string{"X-Auth-Token": "  ", "Authorization": "Bearer y"}, want: "y"},
		{name: "basic scheme", header: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, want: ""},
		{name: "scheme only", header: map[string]string{"Authorization": "Bearer"}, want: ""},
		{name: "scheme and blank", header: map[string]string{"Authorization": "Bearer   "}, want: ""},
		{name: "no scheme", header: map[string]string{"Authorization": "abc"}, want: ""},
		{name: "bearer prefix word", header: map[string]string{"Authorization": "Bearerabc"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			if got, err := auth.RequestToken(h); err != nil || got != tt.want {
				t.Errorf("RequestToken(%v) = %q, %v; want %q", tt.header, got, err, tt.want)
			}
		})
	}
}
