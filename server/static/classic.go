package static

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"time"
)

// ClassicMarker marks an ES module of web/ that also has a classic-script
// version, X.global.js for X.js: "// rtmcall:classic-script NAME ...", the
// top-level names of X.js that the script defines on globalThis.
const ClassicMarker = "// rtmcall:classic-script"

var (
	classicMarker = regexp.MustCompile(`(?m)^// rtmcall:classic-script((?: +[A-Za-z_$][\w$]*)+) *$`)
	importLine    = regexp.MustCompile(`^import \{([^}]*)\} from "(\./[\w.-]+\.js)";$`)
	exportDecl    = regexp.MustCompile(`^export (?:async )?(?:function\*? |class |const |let )`)
	exportName    = regexp.MustCompile(`^export (?:async )?(?:function\*? |class |const |let )([A-Za-z_$][\w$]*)`)
	exportPattern = regexp.MustCompile(`^export const \{([^}]*)\} =`)
	identifier    = regexp.MustCompile(`^[A-Za-z_$][\w$]*$`)
)

// Classic builds the classic-script version of the ES module entry of fsys
// (a file with ClassicMarker), so that a page without modules gets the same
// code from a <script> tag. The rules, kept narrow on purpose, since it only
// handles rtmcall's own files:
//   - `import { a, b } from "./x.js";` (one line) is the only import form;
//   - a module that uses import.meta (the loader, which finds its .wasm
//     relative to itself) stays a module: each imported name becomes a
//     function that imports it on first call with import(), relative to the
//     script's own URL; it must therefore be an async function;
//   - any other module is inlined once, in a function of its own, so that
//     modules cannot see each other's names; `export` is dropped from its
//     declarations, and `export default` lines are dropped.
//
// It returns the script and the files it read, for their modification times.
func Classic(fsys fs.FS, entry string) ([]byte, []string, error) {
	src, err := fs.ReadFile(fsys, entry)
	if err != nil {
		return nil, nil, err
	}
	m := classicMarker.FindSubmatch(src)
	if m == nil {
		return nil, nil, fmt.Errorf("static: %s has no %q line", entry, ClassicMarker)
	}
	b := &classicBuilder{fsys: fsys, done: map[string]bool{}}
	var out bytes.Buffer
	fmt.Fprintf(&out, "// The classic-script version of %s, made by rtmcall's server (server/static): it defines %s.\n",
		path.Base(entry), strings.Join(strings.Fields(string(m[1])), ", "))
	out.WriteString("(function () {\n\"use strict\";\n")
	// A worker's importScripts has no document: its own location stands in.
	out.WriteString("const __script = typeof document !== \"undefined\" && document.currentScript ? " +
		"document.currentScript.src : location.href;\n")
	body, err := b.module(entry, src)
	if err != nil {
		return nil, nil, err
	}
	out.WriteString(b.out.String())
	out.WriteString(body)
	for _, name := range strings.Fields(string(m[1])) {
		fmt.Fprintf(&out, "globalThis.%s = %s;\n", name, name)
	}
	out.WriteString("})();\n")
	return out.Bytes(), append([]string{entry}, b.read...), nil
}

type classicBuilder struct {
	fsys fs.FS
	done map[string]bool // modules inlined or made lazy
	read []string        // the files read besides the entry
	out  strings.Builder // the inlined modules, dependencies first
}

// module returns the body of the module name (content src) with its
// imports replaced, writing the modules it imports to b.out first.
func (b *classicBuilder) module(name string, src []byte) (string, error) {
	var body strings.Builder
	for i, line := range strings.Split(string(src), "\n") {
		switch {
		case strings.HasPrefix(line, "import "):
			m := importLine.FindStringSubmatch(line)
			if m == nil {
				return "", fmt.Errorf("static: %s:%d: only `import { a, b } from \"./x.js\";` is supported", name, i+1)
			}
			dep := path.Join(path.Dir(name), m[2])
			names, err := importNames(m[1])
			if err != nil {
				return "", fmt.Errorf("static: %s:%d: %w", name, i+1, err)
			}
			if err := b.dependency(dep, names); err != nil {
				return "", err
			}
		case strings.HasPrefix(line, "export default "):
		case exportDecl.MatchString(line):
			body.WriteString(strings.TrimPrefix(line, "export "))
			body.WriteByte('\n')
		case strings.HasPrefix(line, "export "):
			return "", fmt.Errorf("static: %s:%d: unsupported export form", name, i+1)
		default:
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	return body.String(), nil
}

// dependency writes to b.out what defines names of module dep.
func (b *classicBuilder) dependency(dep string, names []string) error {
	src, err := fs.ReadFile(b.fsys, dep)
	if err != nil {
		return err
	}
	if bytes.Contains(src, []byte("import.meta")) {
		for _, n := range names {
			if b.done[dep+"#"+n] {
				continue
			}
			b.done[dep+"#"+n] = true
			fmt.Fprintf(&b.out, "const %s = (...args) => import(new URL(%q, __script)).then((m) => m.%s(...args));\n",
				n, "./"+path.Base(dep), n)
		}
		return nil
	}
	if b.done[dep] {
		return nil
	}
	b.done[dep] = true
	b.read = append(b.read, dep)
	body, err := b.module(dep, src)
	if err != nil {
		return err
	}
	exports := moduleExports(src)
	fmt.Fprintf(&b.out, "const { %s } = (function () {\n%sreturn { %s };\n})();\n",
		strings.Join(exports, ", "), body, strings.Join(exports, ", "))
	return nil
}

func importNames(list string) ([]string, error) {
	var names []string
	for n := range strings.SplitSeq(list, ",") {
		n = strings.TrimSpace(n)
		if !identifier.MatchString(n) {
			return nil, fmt.Errorf("unsupported import name %q", n)
		}
		names = append(names, n)
	}
	return names, nil
}

// moduleExports lists the names a module's export declarations define.
func moduleExports(src []byte) []string {
	var names []string
	for line := range strings.SplitSeq(string(src), "\n") {
		if m := exportPattern.FindStringSubmatch(line); m != nil {
			for n := range strings.SplitSeq(m[1], ",") {
				names = append(names, strings.TrimSpace(n))
			}
		} else if m := exportName.FindStringSubmatch(line); m != nil {
			names = append(names, m[1])
		}
	}
	return names
}

// classicFS adds to fsys, for each ES module X.js with ClassicMarker, its
// classic-script version X.global.js (unless fsys has such a file), made
// anew on each open: a few milliseconds for rtmcall's files.
type classicFS struct{ fs.FS }

const classicSuffix = ".global.js"

func (c classicFS) Open(name string) (fs.File, error) {
	f, err := c.FS.Open(name)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.HasSuffix(name, classicSuffix) {
		return f, err
	}
	entry := strings.TrimSuffix(name, classicSuffix) + ".js"
	src, err := fs.ReadFile(c.FS, entry)
	if err != nil || !classicMarker.Match(src) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	b, files, err := Classic(c.FS, entry)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	var mod time.Time
	for _, f := range files {
		if st, err := fs.Stat(c.FS, f); err == nil && st.ModTime().After(mod) {
			mod = st.ModTime()
		}
	}
	return &memFile{Reader: bytes.NewReader(b), info: memInfo{name: path.Base(name), size: int64(len(b)), mod: mod}}, nil
}

type memFile struct {
	*bytes.Reader
	info memInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }

var _ io.ReadSeeker = (*memFile)(nil)

type memInfo struct {
	name string
	size int64
	mod  time.Time
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return i.mod }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
