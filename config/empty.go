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
		name := Prefix + envKey(f)
		var val string
		var set bool
		if environ != nil {
			val, set = environ[name]
		} else {
			val, set = os.LookupEnv(name)
		}
		if set && strings.TrimSpace(val) == "" {
			v.Field(i).SetString("")
		}
	}
}
