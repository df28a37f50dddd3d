package config

import (
	"os"
	"reflect"
	"strings"
)

// applyExplicitEmpty clears string fields tagged emptyDisables:"true" whose
// variable is set but empty. env applies envDefault to empty values too, so
// without this "set it empty to turn it off" could not be said.
func (c *Config) applyExplicitEmpty(environ map[string]string) {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("emptyDisables") != "true" || f.Type.Kind() != reflect.String {
			continue
		}
		val, set := lookupSet(environ, Prefix+envKey(f))
		if set && strings.TrimSpace(val) == "" {
			v.Field(i).SetString("")
		}
	}
}

// lookupSet returns the raw value of the variable name in environ, or in
// the process environment when environ is nil, and whether it is set.
func lookupSet(environ map[string]string, name string) (string, bool) {
	if environ != nil {
		v, ok := environ[name]
		return v, ok
	}
	return os.LookupEnv(name)
}

// lookup is lookupSet without the flag: "" when unset.
func lookup(environ map[string]string, name string) string {
	v, _ := lookupSet(environ, name)
	return v
}
