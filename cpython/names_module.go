package cpython

import (
	"strings"
)

// ModuleFromPath guesses the dotted module name of a source file from its
// path (a code object's co_filename). It is the fallback for when the
// target's sys.modules cannot be read, so it only knows the usual layouts:
//
//   - below the last site-packages, dist-packages or *.zip component, or
//     else below lib/pythonX.Y (the standard library), the remaining
//     directories are packages: ".../site-packages/jinja2/environment.py"
//     is "jinja2.environment", "/usr/lib/python3.11/json/decoder.py" is
//     "json.decoder", ".../lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so"
//     is "_ssl";
//   - "__init__.py" names its package: ".../jinja2/__init__.py" is "jinja2";
//   - frozen modules keep their name: "<frozen importlib._bootstrap>" is
//     "importlib._bootstrap";
//   - other pseudo-files are returned as is ("<string>", "<stdin>");
//   - any other path gives the file's stem: "/srv/app/server.py" is
//     "server", since its package root is unknown.
func ModuleFromPath(path string) string {
	if strings.HasPrefix(path, "<") && strings.HasSuffix(path, ">") {
		if name, ok := strings.CutPrefix(path[1:len(path)-1], "frozen "); ok && name != "" {
			return name
		}
		return path
	}
	if path == "" {
		return ""
	}
	parts := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
	if len(parts) == 0 {
		return ""
	}

	root := -1 // index of the component the module path starts after
	for i := len(parts) - 2; i >= 0; i-- {
		p := parts[i]
		if p == "site-packages" || p == "dist-packages" || strings.HasSuffix(p, ".zip") || strings.HasSuffix(p, ".egg") {
			root = i
			break
		}
	}
	if root < 0 {
		for i := len(parts) - 2; i >= 0; i-- {
			if isPythonLibDir(parts[i]) {
				root = i
				if i+1 < len(parts)-1 && parts[i+1] == "lib-dynload" {
					root = i + 1
				}
				break
			}
		}
	}

	stem := moduleStem(parts[len(parts)-1])
	if root < 0 {
		if stem == "__init__" && len(parts) >= 2 {
			return parts[len(parts)-2]
		}
		return stem
	}
	mod := parts[root+1 : len(parts)-1]
	if stem != "__init__" || len(mod) == 0 {
		mod = append(mod[:len(mod):len(mod)], stem)
	}
	return strings.Join(mod, ".")
}

// isPythonLibDir reports whether a path component is a standard library
// directory name: "python3.11", "python3.13t", "python2.7".
func isPythonLibDir(p string) bool {
	rest, ok := strings.CutPrefix(p, "python")
	if !ok {
		return false
	}
	major, minor, ok := strings.Cut(rest, ".")
	if !ok || !isDigits(major) {
		return false
	}
	minor = strings.TrimRight(minor, "dmut") // ABI flags: debug, pymalloc, wide unicode, free-threaded
	return isDigits(minor)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// moduleStem strips the file extension from a module file name, including
// the ABI tag of extension modules ("_ssl.cpython-311-x86_64-linux-gnu.so",
// "_foo.abi3.so").
func moduleStem(file string) string {
	for _, ext := range []string{".py", ".pyc", ".pyw", ".pyi", ".so", ".pyd"} {
		if s, ok := strings.CutSuffix(file, ext); ok {
			if ext == ".so" || ext == ".pyd" {
				if i := strings.IndexByte(s, '.'); i > 0 {
					s = s[:i]
				}
			}
			return s
		}
	}
	return file
}
