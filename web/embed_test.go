package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Result()
}

// TestPage: / is the page with its configuration inline, and every file it loads is served.
func TestPage(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		loc = time.FixedZone("CST", 8*3600)
	}
	h := Handler(ConfigFor(loc, 5*time.Minute, "https://tiles.example/{z}/{x}/{y}.png", "test"))
	r := get(t, h, "/")
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	for _, want := range []string{`"offline_after_s":300`, `"basemap_url":"https://tiles.example/{z}/{x}/{y}.png"`, `"version":"test"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if loc.String() == "Asia/Shanghai" && !strings.Contains(string(body), `"timezone":"Asia/Shanghai"`) {
		t.Error("page lacks the time zone")
	}
	// Every /web/ file the page references exists and is served with a sensible type.
	refs := regexp.MustCompile(`(?:href|src)="(/web/[^"]+)"`).FindAllStringSubmatch(string(body), -1)
	if len(refs) < 4 {
		t.Fatalf("only %d references in the page", len(refs))
	}
	for _, m := range refs {
		r := get(t, h, m[1])
		if r.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", m[1], r.StatusCode)
		}
	}
	for path, ct := range map[string]string{
		"/web/vendor/maplibre-gl/maplibre-gl.mjs":        "text/javascript",
		"/web/vendor/maplibre-gl/maplibre-gl-worker.mjs": "text/javascript",
		"/web/vendor/uplot/uPlot.esm.js":                 "text/javascript",
		"/web/app/map.js":                                "text/javascript",
		"/web/basemap/changshou.geojson":                 "",
	} {
		r := get(t, h, path)
		if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), ct) {
			t.Errorf("%s: %d %q", path, r.StatusCode, r.Header.Get("Content-Type"))
		}
	}
	// The benchmark's load (web/tools/bench-page.js) is injected by the benchmark, never served.
	for _, path := range []string{"/web/nope.js", "/web/app/", "/web/", "/web/index.html", "/elsewhere", "/web/app/bench.js", "/web/tools/bench-page.js", "/basemap/tiles.pmtiles"} {
		if r := get(t, h, path); r.StatusCode != http.StatusNotFound && r.StatusCode/100 != 3 {
			t.Errorf("%s: %d, want 404", path, r.StatusCode)
		}
	}
}

// TestModulesResolve: every relative or /web/ import in the app's modules names an embedded file.
func TestModulesResolve(t *testing.T) {
	imp := regexp.MustCompile(`(?m)^import [^'"]*['"]([^'"]+)['"]`)
	entries, err := fs.ReadDir(FS, "app")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".js") {
			continue
		}
		src, _ := fs.ReadFile(FS, "app/"+e.Name())
		for _, m := range imp.FindAllStringSubmatch(string(src), -1) {
			p := m[1]
			switch {
			case strings.HasPrefix(p, "./"):
				p = "app/" + strings.TrimPrefix(p, "./")
			case strings.HasPrefix(p, "/web/"):
				p = strings.TrimPrefix(p, "/web/")
			default:
				t.Errorf("%s imports %s: not a local file", e.Name(), m[1])
				continue
			}
			if _, err := fs.Stat(FS, p); err != nil {
				t.Errorf("%s imports %s: %v", e.Name(), m[1], err)
			}
		}
	}
}
