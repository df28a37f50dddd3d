package test

import (
	"go/build"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "parley"

// modulePackages returns every package directory of the module, keyed by
// import path, with its non-test and test imports.
func modulePackages(t *testing.T) map[string]*build.Package {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string]*build.Package{}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
			return filepath.SkipDir
		}
		p, err := build.ImportDir(path, 0)
		if err != nil {
			if _, ok := err.(*build.NoGoError); ok {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(root, path)
		ip := module
		if rel != "." {
			ip = module + "/" + filepath.ToSlash(rel)
		}
		pkgs[ip] = p
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"parley", "parley/chat", "parley/inbox", "parley/server", "parley/auth", "parley/config", "parley/userapi", "parley/realtime"} {
		if pkgs[want] == nil {
			t.Fatalf("package %s not found; found %v", want, keys(pkgs))
		}
	}
	return pkgs
}

// deps returns the non-test imports of pkg and, for module packages, of
// everything they import in turn.
func deps(pkgs map[string]*build.Package, pkg string) map[string]bool {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		bp := pkgs[p]
		if bp == nil {
			return
		}
		for _, imp := range bp.Imports {
			if !seen[imp] {
				seen[imp] = true
				walk(imp)
			}
		}
	}
	walk(pkg)
	return seen
}

func keys(m map[string]*build.Package) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestArchitecture(t *testing.T) {
	t.Parallel()
	pkgs := modulePackages(t)
	forbidden := func(imp string, banned ...string) bool {
		for _, b := range banned {
			if imp == b || strings.HasPrefix(imp, b+"/") {
				return true
			}
		}
		return false
	}
	rules := []struct {
		pkgs   []string
		banned []string
		why    string
	}{
		{[]string{"parley/chat", "parley/inbox", "parley/presence", "parley/realtime", "parley/webhook"},
			[]string{"github.com/gin-gonic/gin", "github.com/zishang520", "parley/server", "parley/config", "parley/auth", "parley/userapi"},
			"the domain knows no transport, configuration or adapter"},
		{[]string{"parley/auth", "parley/config", "parley/userapi", "parley/api"}, []string{module}, "leaf packages import no module package"},
		{[]string{"parley/auth", "parley/config", "parley/userapi"}, []string{"github.com/gin-gonic/gin", "github.com/zishang520"},
			"only server imports Gin and Socket.IO"},
	}
	// The scanner sees imports at all: server does import Gin.
	if !deps(pkgs, module+"/server")["github.com/gin-gonic/gin"] {
		t.Fatal("parley/server does not appear to import Gin: the import scan is broken")
	}
	for _, r := range rules {
		for _, p := range r.pkgs {
			for imp := range deps(pkgs, p) {
				if forbidden(imp, r.banned...) && imp != p {
					t.Errorf("%s imports %s: %s", p, imp, r.why)
				}
			}
		}
	}
	// Nothing but main, this package and the benchmarks (which drive the
	// real server, as these tests do) imports server, tests included.
	for ip, p := range pkgs {
		if ip == module || ip == module+"/test" || ip == module+"/server" || strings.HasPrefix(ip, module+"/bench/") {
			continue
		}
		all := append(append(append([]string(nil), p.Imports...), p.TestImports...), p.XTestImports...)
		for _, imp := range all {
			if imp == module+"/server" {
				t.Errorf("%s imports parley/server: only main and test may", ip)
			}
		}
	}
	// The delivery engine is server's own: only main and server import it
	// (its own tests aside).
	for ip, p := range pkgs {
		if ip == module || ip == module+"/server" || ip == module+"/realtime" {
			continue
		}
		all := append(append(append([]string(nil), p.Imports...), p.TestImports...), p.XTestImports...)
		for _, imp := range all {
			if imp == module+"/realtime" {
				t.Errorf("%s imports parley/realtime: only main and server may", ip)
			}
		}
	}
	// Only server (and main, tests) may import Gin or Socket.IO anywhere.
	for ip, p := range pkgs {
		if ip == module+"/server" || ip == module+"/test" {
			continue
		}
		for _, imp := range p.Imports {
			if forbidden(imp, "github.com/gin-gonic/gin", "github.com/zishang520") {
				t.Errorf("%s imports %s: only server may", ip, imp)
			}
		}
	}
	// Non-test code never imports the test package.
	for ip, p := range pkgs {
		for _, imp := range p.Imports {
			if imp == module+"/test" {
				t.Errorf("%s imports parley/test", ip)
			}
		}
	}
}
