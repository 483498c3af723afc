// Package static serves the browser module and its demo page (web/): the
// right MIME types (application/wasm for the module, text/javascript for
// ES modules), gzip and brotli variants chosen by Accept-Encoding, and a
// strong ETag per variant with Cache-Control: no-cache, so that a reload
// costs one 304 per file.
//
// A variant made at build time (name.br, name.gz next to name, as
// `make build` writes them into the embedded assets) is served as it is;
// otherwise variants are compressed in memory on the first request for a
// file and cached until the file changes (its size or modification time),
// so a rebuilt rtmcall.wasm is picked up without a restart.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"mime"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
)

// Options tune a handler; the zero value is good.
type Options struct {
	// BrotliLevel is the brotli quality, 0 to 11; 0 means 9 (the module's
	// 4.4 MB compress in about half a second; 11 saves another 12% but
	// takes about 10 s).
	BrotliLevel int
	// MaxCompressBytes is the largest file compressed; larger files are
	// served as they are. 0 means 64 MiB.
	MaxCompressBytes int64
	// Only, when not nil, lists the only names served (Files for the
	// server); anything else is 404.
	Only []string
}

// Files are what the server serves: the browser module, the demo page, and
// the Agora and anyRTM layers and the service-worker helper with the
// demo's worker (with their classic-script versions, which are made from
// them: see Classic), not the package's other files
// (package.json, rtmcall.d.ts, example.ts).
var Files = []string{"index.html", "demo.css", "demo.js", "favicon.svg", "rtmcall.js", "wasm_exec.js", "rtmcall.wasm",
	"agora.js", "anyrtm.js", "compat.js", "rtmcall-sw.js", "demo-sw.js"}

// BestBrotli is the brotli quality of the variants made at build time.
const BestBrotli = brotli.BestCompression

// Suffix is the file name suffix of a precomputed variant, by encoding.
var Suffix = map[string]string{"br": ".br", "gzip": ".gz"}

// Handler serves the files of directory dir; see New.
func Handler(dir string) (http.Handler, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("static: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("static: %s is not a directory", dir)
	}
	return New(os.DirFS(dir), Options{}), nil
}

// New serves the files of fsys for GET and HEAD: "/" and any path ending
// in "/" serve that directory's index.html, a directory without the slash
// redirects to it, and names starting with "." are not served. An ES module
// X.js marked for it also serves as a classic script at X.global.js (see
// Classic).
func New(fsys fs.FS, opts Options) http.Handler {
	if opts.BrotliLevel <= 0 || opts.BrotliLevel > brotli.BestCompression {
		opts.BrotliLevel = 9
	}
	if opts.MaxCompressBytes <= 0 {
		opts.MaxCompressBytes = 64 << 20
	}
	h := &handler{fsys: classicFS{fsys}, opts: opts, files: make(map[string]*file)}
	if opts.Only != nil {
		h.only = make(map[string]bool)
		for _, n := range opts.Only {
			h.only[n] = true
		}
	}
	return h
}

type handler struct {
	fsys fs.FS
	opts Options
	only map[string]bool // nil: every file

	mu    sync.Mutex
	files map[string]*file
}

// file is one version of a file with its variants, made once.
type file struct {
	size    int64
	modTime time.Time

	once        sync.Once
	err         error
	contentType string
	compress    bool   // worth a Vary: Accept-Encoding
	hash        string // of the content, for the ETags
	variants    map[string][]byte
}

// Encodings, best first.
var encodings = []string{"br", "gzip"}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	upath := r.URL.Path
	if !strings.HasPrefix(upath, "/") {
		upath = "/" + upath
	}
	name := strings.TrimPrefix(path.Clean(upath), "/")
	if name == "" {
		name = "."
	}
	if !fs.ValidPath(name) || hidden(name) {
		http.NotFound(w, r)
		return
	}
	st, err := fs.Stat(h.fsys, name)
	if err != nil {
		notFoundOr500(w, r, err)
		return
	}
	if st.IsDir() {
		if !strings.HasSuffix(upath, "/") {
			http.Redirect(w, r, path.Base(upath)+"/", http.StatusMovedPermanently)
			return
		}
		name = path.Join(name, "index.html")
		if st, err = fs.Stat(h.fsys, name); err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
	}
	if !h.allowed(name) {
		http.NotFound(w, r)
		return
	}
	f := h.load(name, st)
	if f.err != nil {
		notFoundOr500(w, r, f.err)
		return
	}
	enc := ""
	if f.compress {
		enc = negotiate(r.Header.Get("Accept-Encoding"), f.variants)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if f.compress {
		hdr.Add("Vary", "Accept-Encoding")
	}
	etag := f.hash
	if enc != "" {
		hdr.Set("Content-Encoding", enc)
		etag += "-" + enc
	}
	hdr.Set("ETag", `"`+etag+`"`)
	if enc != "" && r.Header.Get("Range") == "" {
		// ServeContent leaves it out whenever Content-Encoding is set.
		hdr.Set("Content-Length", strconv.Itoa(len(f.variants[enc])))
	}
	http.ServeContent(w, r, name, f.modTime, bytes.NewReader(f.variants[enc]))
}

// allowed reports whether Only lets name be served: X.global.js goes with X.js.
func (h *handler) allowed(name string) bool {
	if h.only == nil || h.only[name] {
		return true
	}
	base, ok := strings.CutSuffix(name, classicSuffix)
	return ok && h.only[base+".js"]
}

// load returns the cached version of name matching st, making it on first use.
func (h *handler) load(name string, st fs.FileInfo) *file {
	h.mu.Lock()
	f := h.files[name]
	if f == nil || f.size != st.Size() || !f.modTime.Equal(st.ModTime()) {
		f = &file{size: st.Size(), modTime: st.ModTime()}
		h.files[name] = f
	}
	h.mu.Unlock()
	f.once.Do(func() { f.err = h.fill(f, name) })
	return f
}

func (h *handler) fill(f *file, name string) error {
	b, err := fs.ReadFile(h.fsys, name)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	f.hash = hex.EncodeToString(sum[:12])
	f.contentType = contentType(name, b)
	f.variants = map[string][]byte{"": b}
	f.compress = compressible(f.contentType) && int64(len(b)) <= h.opts.MaxCompressBytes
	if !f.compress {
		return nil
	}
	for enc, v := range h.precomputed(name, f.modTime) {
		f.variants[enc] = v
	}
	if len(f.variants) > 1 {
		return nil
	}
	maps.Copy(f.variants, Compress(name, b, h.opts.BrotliLevel))
	return nil
}

// precomputed returns the variants of name made at build time: name.br and
// name.gz, when they are not older than name.
func (h *handler) precomputed(name string, modTime time.Time) map[string][]byte {
	vs := map[string][]byte{}
	for enc, suffix := range Suffix {
		st, err := fs.Stat(h.fsys, name+suffix)
		if err != nil || st.ModTime().Before(modTime) {
			continue
		}
		if b, err := fs.ReadFile(h.fsys, name+suffix); err == nil {
			vs[enc] = b
		}
	}
	return vs
}

// Compress returns the gzip-9 and brotli (quality brotliLevel) variants of
// b, keeping only those smaller than b; none for files under 256 bytes or
// of a type not worth compressing.
func Compress(name string, b []byte, brotliLevel int) map[string][]byte {
	vs := map[string][]byte{}
	if len(b) < 256 || !compressible(contentType(name, b)) {
		return vs
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	_, _ = zw.Write(b) // a bytes.Buffer does not fail
	_ = zw.Close()
	var br bytes.Buffer
	bw := brotli.NewWriterLevel(&br, brotliLevel)
	_, _ = bw.Write(b)
	_ = bw.Close()
	if gz.Len() < len(b) {
		vs["gzip"] = gz.Bytes()
	}
	if br.Len() < len(b) {
		vs["br"] = br.Bytes()
	}
	return vs
}

// negotiate picks the best encoding of variants that Accept-Encoding
// allows ("" for the file as it is): the highest q-value, brotli on ties.
func negotiate(accept string, variants map[string][]byte) string {
	q := map[string]float64{}
	for part := range strings.SplitSeq(accept, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding == "" {
			continue
		}
		v := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
					v = f
				} else {
					v = 0
				}
			}
		}
		q[coding] = v
	}
	best, bestQ := "", 0.0
	for _, enc := range encodings {
		v, ok := q[enc]
		if !ok {
			v, ok = q["*"]
		}
		if !ok || v <= 0 || variants[enc] == nil {
			continue
		}
		if v > bestQ {
			best, bestQ = enc, v
		}
	}
	return best
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".wasm": "application/wasm",
	".json": "application/json",
	".map":  "application/json",
	".ts":   "text/plain; charset=utf-8",
	".md":   "text/markdown; charset=utf-8",
	".txt":  "text/plain; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".webp": "image/webp",
}

func contentType(name string, b []byte) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return http.DetectContentType(b)
}

func compressible(contentType string) bool {
	t, _, _ := strings.Cut(contentType, ";")
	switch t {
	case "application/wasm", "application/json", "application/javascript", "image/svg+xml", "application/xml":
		return true
	}
	return strings.HasPrefix(t, "text/")
}

// hidden reports whether a path element starts with a dot (.git, .env).
func hidden(name string) bool {
	for el := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(el, ".") && el != "." {
			return true
		}
	}
	return false
}

func notFoundOr500(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		http.NotFound(w, r)
		return
	}
	http.Error(w, "internal server error", http.StatusInternalServerError)
}
