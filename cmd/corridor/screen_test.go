package main

import (
	"io"
	"net/http"
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

// TestBasemapURLConfig: CORRIDOR_BASEMAP_URL must be a tile URL template.
func TestBasemapURLConfig(t *testing.T) {
	for v, ok := range map[string]bool{"": true, "https://tiles.example/{z}/{x}/{y}.png": true, "/tiles/{z}/{x}/{y}.png": true,
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
