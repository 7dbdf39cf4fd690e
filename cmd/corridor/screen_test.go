package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corridor-dev/corridor/internal/pgtest"
)

// TestScreenServed: serve answers / with the monitoring screen, its configuration inline
// (CORRIDOR_TIMEZONE, CORRIDOR_OFFLINE_AFTER, CORRIDOR_BASEMAP_URL), without a token.
func TestScreenServed(t *testing.T) {
	env := map[string]string{"DATABASE_URL": pgtest.NewURL(t, true), "CORRIDOR_DATA_DIR": t.TempDir(),
		"CORRIDOR_OFFLINE_AFTER": "90s", "CORRIDOR_BASEMAP_URL": "http://tiles.lan/{z}/{x}/{y}.png"}
	srv := startServe(t, env)
	resp, err := http.Get(srv.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"window.CORRIDOR_CONFIG", `"offline_after_s":90`, `"basemap_url":"http://tiles.lan/{z}/{x}/{y}.png"`, "/web/app/main.js"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	resp, err = http.Get(srv.base + "/web/vendor/maplibre-gl/maplibre-gl.mjs")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("maplibre: %d", resp.StatusCode)
	}
}

// TestPMTilesBasemapServed: CORRIDOR_BASEMAP_URL naming a local .pmtiles file makes serve answer
// /basemap/tiles.pmtiles with byte ranges (what the page's PMTiles client asks for), without a
// token, and tells the page to use it.
func TestPMTilesBasemapServed(t *testing.T) {
	fixture, err := filepath.Abs("../../web/testdata/tiny.pmtiles")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, map[string]string{"DATABASE_URL": pgtest.NewURL(t, true), "CORRIDOR_DATA_DIR": t.TempDir(), "CORRIDOR_BASEMAP_URL": fixture})
	resp, err := http.Get(srv.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"basemap_pmtiles":"/basemap/tiles.pmtiles"`) || !strings.Contains(string(body), `"basemap_url":""`) {
		t.Errorf("page config lacks the archive")
	}
	req, _ := http.NewRequest(http.MethodGet, srv.base+"/basemap/tiles.pmtiles", nil)
	req.Header.Set("Range", "bytes=0-126")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(got) != string(data[:127]) {
		t.Fatalf("range: %d, %d bytes", resp.StatusCode, len(got))
	}
	if resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 0-126/%d", len(data)) || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v", resp.Header)
	}
}

// TestBasemapURLConfig: CORRIDOR_BASEMAP_URL must be a tile URL template, the URL of a .pmtiles
// archive or an existing .pmtiles file.
func TestBasemapURLConfig(t *testing.T) {
	file, err := filepath.Abs("../../web/testdata/tiny.pmtiles")
	if err != nil {
		t.Fatal(err)
	}
	for v, ok := range map[string]bool{"": true, "https://tiles.example/{z}/{x}/{y}.png": true, "/tiles/{z}/{x}/{y}.png": true,
		"https://maps.example/region.pmtiles": true, file: true, "/nonexistent/region.pmtiles": false,
		"tiles.example": false, "https://tiles.example/map.png": false, "javascript:alert(1)//{z}": false} {
		_, err := loadConfig(func(k string) string {
			if k == "CORRIDOR_BASEMAP_URL" {
				return v
			}
			return ""
		})
		if (err == nil) != ok {
			t.Errorf("%q: err %v", v, err)
		}
	}
}
