// Package static serves the browser module and its demo page (web/): the
// right MIME types (application/wasm for the module, text/javascript for
// ES modules), gzip and brotli variants chosen by Accept-Encoding, and a
// strong ETag per variant with Cache-Control: no-cache, so that a reload
// costs one 304 per file.
//
// Variants are compressed in memory on the first request for a file and
// cached until the file changes (its size or modification time), so a
// rebuilt rtmcall.wasm is picked up without a restart.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
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
}

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
	return &handler{fsys: classicFS{fsys}, opts: opts, files: make(map[string]*file)}
}

type handler struct {
	fsys fs.FS
	opts Options

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
	if !f.compress || len(b) < 256 {
		return nil
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if _, err := zw.Write(b); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	var br bytes.Buffer
	bw := brotli.NewWriterLevel(&br, h.opts.BrotliLevel)
	if _, err := bw.Write(b); err != nil {
		return err
	}
	if err := bw.Close(); err != nil {
		return err
	}
	// A variant is kept only when it is smaller.
	if gz.Len() < len(b) {
		f.variants["gzip"] = gz.Bytes()
	}
	if br.Len() < len(b) {
		f.variants["br"] = br.Bytes()
	}
	return nil
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
