package config

import "reflect"

// Var describes one environment variable, for help output.
type Var struct {
	Name        string // full name, e.g. PARLEY_HTTP_ADDR
	Default     string // envDefault tag; "" when there is none
	Description string // desc tag
}

// Variables lists every PARLEY_* variable in Config field order. It is
// derived from the struct tags, so it cannot drift from [Load].
func Variables() []Var {
	t := reflect.TypeFor[Config]()
	vars := make([]Var, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		key := envKey(f)
		if key == "" {
			continue
		}
		vars = append(vars, Var{
			Name:        Prefix + key,
			Default:     f.Tag.Get("envDefault"),
			Description: f.Tag.Get("desc"),
		})
	}
	return vars
}
