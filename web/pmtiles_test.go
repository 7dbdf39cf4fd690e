package web

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// tinyPMTiles builds testdata/tiny.pmtiles: a PMTiles v3 archive (no compression) with one raster
// tile, 0/0/0, a 256×256 transparent PNG. The browser test serves it as the base map; the tests
// here check that the committed file is what this code makes (UPDATE_FIXTURES=1 rewrites it).
func tinyPMTiles(t *testing.T) []byte {
	t.Helper()
	var tile bytes.Buffer
	img := image.NewNRGBA(image.Rect(0, 0, 256, 256))
	img.Set(0, 0, color.NRGBA{0x35, 0xc2, 0xff, 0x01}) // not all-zero, so that the PNG is not trivial
	if err := png.Encode(&tile, img); err != nil {
		t.Fatal(err)
	}
	uv := func(b *bytes.Buffer, v uint64) { b.Write(binary.AppendUvarint(nil, v)) }
	// Root directory: one entry (tile id 0, run length 1, length, offset 0 written as 0+1).
	var dir bytes.Buffer
	uv(&dir, 1)
	uv(&dir, 0)
	uv(&dir, 1)
	uv(&dir, uint64(tile.Len()))
	uv(&dir, 1)
	meta := []byte(`{"name":"corridor test fixture","format":"png"}`)
	const headerLen = 127
	h := make([]byte, headerLen)
	copy(h, "PMTiles")
	h[7] = 3
	le := binary.LittleEndian
	rootOff, metaOff := uint64(headerLen), uint64(headerLen+dir.Len())
	dataOff := metaOff + uint64(len(meta))
	le.PutUint64(h[8:], rootOff)
	le.PutUint64(h[16:], uint64(dir.Len()))
	le.PutUint64(h[24:], metaOff)
	le.PutUint64(h[32:], uint64(len(meta)))
	le.PutUint64(h[40:], dataOff) // no leaf directories
	le.PutUint64(h[48:], 0)
	le.PutUint64(h[56:], dataOff)
	le.PutUint64(h[64:], uint64(tile.Len()))
	le.PutUint64(h[72:], 1) // addressed tiles
	le.PutUint64(h[80:], 1) // tile entries
	le.PutUint64(h[88:], 1) // tile contents
	h[96] = 1               // clustered
	h[97] = 1               // internal compression: none
	h[98] = 1               // tile compression: none
	h[99] = 2               // tile type: PNG
	h[100], h[101] = 0, 0   // min and max zoom
	e7 := func(v float64) uint32 { return uint32(int32(v * 1e7)) }
	le.PutUint32(h[102:], e7(-180))
	le.PutUint32(h[106:], e7(-85))
	le.PutUint32(h[110:], e7(180))
	le.PutUint32(h[114:], e7(85))
	h[118] = 0
	le.PutUint32(h[119:], e7(107))
	le.PutUint32(h[123:], e7(29.8))
	var out bytes.Buffer
	out.Write(h)
	out.Write(dir.Bytes())
	out.Write(meta)
	out.Write(tile.Bytes())
	return out.Bytes()
}

const fixture = "testdata/tiny.pmtiles"

// TestPMTilesFixture: the committed fixture is what tinyPMTiles makes.
func TestPMTilesFixture(t *testing.T) {
	want := tinyPMTiles(t)
	if os.Getenv("UPDATE_FIXTURES") != "" {
		if err := os.WriteFile(fixture, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run UPDATE_FIXTURES=1 go test ./web -run TestPMTilesFixture", fixture)
	}
}

// TestPMTilesServed: a local .pmtiles file in CORRIDOR_BASEMAP_URL is served at PMTilesPath with
// Range support, and the page is told to use it.
func TestPMTilesServed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "region.pmtiles")
	data := tinyPMTiles(t)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := ConfigFor(time.UTC, time.Minute, path, "test")
	if c.BasemapPMTiles != PMTilesPath || c.BasemapURL != "" || c.BasemapFile != path {
		t.Fatalf("config %+v", c)
	}
	h := Handler(c)
	page, _ := io.ReadAll(get(t, h, "/").Body)
	if !bytes.Contains(page, []byte(`"basemap_pmtiles":"/basemap/tiles.pmtiles"`)) || bytes.Contains(page, []byte(path)) {
		t.Errorf("page config: %s", bytes.SplitN(bytes.SplitN(page, []byte("CORRIDOR_CONFIG = "), 2)[1], []byte(";"), 2)[0])
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, PMTilesPath, nil)
	req.Header.Set("Range", "bytes=0-126")
	h.ServeHTTP(rec, req)
	r := rec.Result()
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusPartialContent || len(body) != 127 || string(body[:7]) != "PMTiles" || body[7] != 3 {
		t.Fatalf("header range: %d, %d bytes %q", r.StatusCode, len(body), body[:min(8, len(body))])
	}
	if cr := r.Header.Get("Content-Range"); cr != "bytes 0-126/"+strconv.Itoa(len(data)) {
		t.Errorf("Content-Range %q", cr)
	}
	// The tile at the end of the file, as the client asks for it.
	rec = httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodGet, PMTilesPath, nil)
	req.Header.Set("Range", "bytes="+strconv.Itoa(len(data)-10)+"-")
	h.ServeHTTP(rec, req)
	if body, _ := io.ReadAll(rec.Result().Body); rec.Code != http.StatusPartialContent || !bytes.Equal(body, data[len(data)-10:]) {
		t.Errorf("tail range: %d %x", rec.Code, body)
	}
	// Without a file configured (or once it is gone) there is nothing there.
	if r := get(t, Handler(ConfigFor(time.UTC, time.Minute, "", "test")), PMTilesPath); r.StatusCode != http.StatusNotFound {
		t.Errorf("no archive configured: %d", r.StatusCode)
	}
	os.Remove(path)
	if r := get(t, h, PMTilesPath); r.StatusCode != http.StatusNotFound {
		t.Errorf("archive removed: %d", r.StatusCode)
	}
}

// TestBasemapKind: what CORRIDOR_BASEMAP_URL values mean.
func TestBasemapKind(t *testing.T) {
	for v, want := range map[string]int{
		"":                                      BasemapNone,
		"https://tiles.example/{z}/{x}/{y}.png": BasemapTiles,
		"/tiles/{z}/{x}/{y}.png":                BasemapTiles,
		"https://maps.example/region.pmtiles":   BasemapPMTilesURL,
		"http://maps.lan/cq.pmtiles?v=2":        BasemapPMTilesURL,
		"/srv/maps/chongqing.pmtiles":           BasemapPMTilesFile,
		"data/chongqing.pmtiles":                BasemapPMTilesFile,
		"tiles.example":                         BasemapInvalid,
		"https://tiles.example/map.png":         BasemapInvalid,
		"javascript:alert(1)//{z}":              BasemapInvalid,
		"ftp://maps.lan/cq.pmtiles":             BasemapInvalid,
		"https://tiles.example/{z}.png":         BasemapInvalid,
	} {
		if got := BasemapKind(v); got != want {
			t.Errorf("%q: %d, want %d", v, got, want)
		}
	}
}
