package auth

import (
	"strings"
	"testing"
)

func TestIntegerString(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{in: "42", want: "42", wantOK: true},
		{in: "388636", want: "388636", wantOK: true},
		{in: "0", want: "0", wantOK: true},
		{in: "0.0", want: "0", wantOK: true},
		{in: "18446744073709551617", want: "18446744073709551617", wantOK: true},
		{in: "42.0", want: "42", wantOK: true},
		{in: "4.2e1", want: "42", wantOK: true},
		{in: "4.20E+1", want: "42", wantOK: true},
		{in: "1e2", want: "100", wantOK: true},
		{in: "10e-1", want: "1", wantOK: true},
		{in: "1e63", want: "1" + strings.Repeat("0", 63), wantOK: true},
		{in: "1e64"},
		{in: "1e999999999"},
		{in: "1.5"},
		{in: "1e-3"},
		{in: "-3"},
		{in: "-0"},
		{in: ""},
		{in: "."},
		{in: "1e"},
		{in: "0x10"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := integerString(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("integerString(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
