// Package web is the monitoring screen (issue 9): a page and its scripts, styles, base map and
// vendored front-end libraries, embedded into the binary so that the screen works on a network
// with no internet. Handler serves the page at / (with its configuration inline), the files
// under /web/ and, when configured, a PMTiles base map archive at /basemap/tiles.pmtiles.
package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"
)

// PMTilesPath is where Handler serves a local PMTiles archive (Config.BasemapFile).
const PMTilesPath = "/basemap/tiles.pmtiles"

//go:embed index.html app basemap vendor
var files embed.FS

// FS is the screen's files: index.html, app/, basemap/ and vendor/.
var FS fs.FS = files

// Config is what the page needs from the server's configuration; it is written into the page.
type Config struct {
	// Timezone is the IANA name of CORRIDOR_TIMEZONE (times and zone schedules are shown in it).
	Timezone string `json:"timezone"`
	// UTCOffsetMinutes is the zone's current offset, for a browser that does not know Timezone.
	UTCOffsetMinutes int `json:"utc_offset_minutes"`
	// OfflineAfterSeconds is CORRIDOR_OFFLINE_AFTER: a vehicle whose last fix is older is drawn grey.
	OfflineAfterSeconds float64 `json:"offline_after_s"`
	// BasemapURL is CORRIDOR_BASEMAP_URL when it is a raster tile URL template ({z}/{x}/{y})
	// drawn under the bundled offline base map; empty: none.
	BasemapURL string `json:"basemap_url"`
	// BasemapPMTiles is the URL of a PMTiles archive (raster or vector tiles) the page draws under
	// the bundled map: CORRIDOR_BASEMAP_URL when it is an http(s) URL of a .pmtiles file, or
	// PMTilesPath when BasemapFile is set; empty: none.
	BasemapPMTiles string `json:"basemap_pmtiles"`
	// BasemapFile is a local .pmtiles file served at PMTilesPath (with HTTP Range requests).
	BasemapFile string `json:"-"`
	// Version is the binary's version, shown in the page footer.
	Version string `json:"version"`
}

// ConfigFor builds the page configuration from a location, the offline threshold, the base map
// (CORRIDOR_BASEMAP_URL: a raster tile URL template, the URL of a .pmtiles archive, or the path of
// a local .pmtiles file) and the version.
func ConfigFor(loc *time.Location, offlineAfter time.Duration, basemap, version string) Config {
	if loc == nil {
		loc = time.UTC
	}
	_, off := time.Now().In(loc).Zone()
	c := Config{Timezone: loc.String(), UTCOffsetMinutes: off / 60, OfflineAfterSeconds: offlineAfter.Seconds(), Version: version}
	switch kind := BasemapKind(basemap); kind {
	case BasemapTiles:
		c.BasemapURL = basemap
	case BasemapPMTilesURL:
		c.BasemapPMTiles = basemap
	case BasemapPMTilesFile:
		c.BasemapPMTiles, c.BasemapFile = PMTilesPath, basemap
	}
	return c
}

// Kinds of CORRIDOR_BASEMAP_URL values (BasemapKind).
const (
	BasemapNone        = iota // empty
	BasemapTiles              // a raster tile URL template with {z}, {x} and {y}
	BasemapPMTilesURL         // an http(s) URL of a .pmtiles archive, fetched by the browser
	BasemapPMTilesFile        // a local .pmtiles file, served by the binary at PMTilesPath
	BasemapInvalid
)

// BasemapKind tells what a CORRIDOR_BASEMAP_URL value is. Absolute URL paths ("/tiles/{z}/…")
// count as URLs on the screen's own origin; a value without a scheme that ends in .pmtiles is a
// file path.
func BasemapKind(v string) int {
	web := strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://")
	switch {
	case v == "":
		return BasemapNone
	case strings.Contains(v, "{z}") && strings.Contains(v, "{x}") && strings.Contains(v, "{y}") && (web || strings.HasPrefix(v, "/")):
		return BasemapTiles
	case web && strings.HasSuffix(strings.SplitN(v, "?", 2)[0], ".pmtiles"):
		return BasemapPMTilesURL
	case !strings.Contains(v, "://") && !strings.Contains(v, "{") && strings.HasSuffix(v, ".pmtiles"):
		return BasemapPMTilesFile
	}
	return BasemapInvalid
}

// Handler serves GET / (the page, with c inline as window.CORRIDOR_CONFIG) and GET /web/<file>.
// The page needs no token; the API calls it makes carry the one the user signs in with.
func Handler(c Config) http.Handler {
	page, err := renderIndex(c)
	if err != nil {
		panic(err) // index.html is embedded: a template error is a build error
	}
	static := http.StripPrefix("/web/", http.FileServerFS(files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if r.URL.Path == "/" || r.URL.Path == "/index.html" {
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Cache-Control", "no-cache")
			h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: *; connect-src 'self' *; worker-src 'self' blob:; child-src blob:")
			_, _ = w.Write(page)
			return
		}
		if r.URL.Path == PMTilesPath && c.BasemapFile != "" {
			servePMTiles(w, r, c.BasemapFile)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, "/web/")
		if name == r.URL.Path || name == "" || strings.HasSuffix(name, "/") || name == "index.html" {
			http.NotFound(w, r)
			return
		}
		if strings.HasSuffix(name, ".mjs") {
			h.Set("Content-Type", "text/javascript; charset=utf-8")
		}
		// Vendored files change only with the binary; the app's files are revalidated.
		if strings.HasPrefix(name, "vendor/") {
			h.Set("Cache-Control", "public, max-age=86400")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		static.ServeHTTP(w, r)
	})
}

// servePMTiles serves the archive with Range support (the PMTiles client reads the header, the
// directories and each tile as byte ranges), opened per request so that a replaced file is
// picked up without a restart.
func servePMTiles(w http.ResponseWriter, r *http.Request, path string) {
	f, err := os.Open(path)
	if err != nil {
		http.Error(w, "base map archive unavailable", http.StatusNotFound)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		http.Error(w, "base map archive unavailable", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.pmtiles")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "tiles.pmtiles", st.ModTime(), f)
}

func renderIndex(c Config) ([]byte, error) {
	src, err := files.ReadFile("index.html")
	if err != nil {
		return nil, err
	}
	t, err := template.New("index").Parse(string(src))
	if err != nil {
		return nil, err
	}
	cfg, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, struct{ Config template.JS }{template.JS(cfg)}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
