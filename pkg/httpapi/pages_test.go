package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twpayne/go-geom"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// walkArray follows Link rel="next" from path and returns the "id" of every item of every page.
func (e *env) walkArray(path, role string) (ids []string, pages int) {
	e.t.Helper()
	for path != "" && pages < 100 {
		r := e.do("GET", path, role, nil)
		wantStatus(e.t, r, http.StatusOK)
		var items []map[string]any
		r.decode(e.t, &items)
		for _, it := range items {
			ids = append(ids, fmt.Sprint(it["id"]))
		}
		pages++
		path = ""
		if link := r.Header.Get("Link"); link != "" {
			path = strings.TrimSuffix(strings.TrimPrefix(strings.Split(link, ";")[0], "<"), ">")
			if r.Header.Get("X-Next-Cursor") == "" {
				e.t.Fatalf("Link without X-Next-Cursor")
			}
		}
	}
	return ids, pages
}

// walkFeatures follows next_cursor of a FeatureCollection.
func (e *env) walkFeatures(path, role string) (ids []string, pages int) {
	e.t.Helper()
	cursor := ""
	for pages < 1000 {
		p := path
		if cursor != "" {
			p += "&cursor=" + cursor
		}
		r := e.do("GET", p, role, nil)
		wantStatus(e.t, r, http.StatusOK)
		var fc struct {
			Features []struct {
				ID         any            `json:"id"`
				Properties map[string]any `json:"properties"`
			} `json:"features"`
			NextCursor *string `json:"next_cursor"`
		}
		r.decode(e.t, &fc)
		if !strings.Contains(string(r.body), `"next_cursor"`) {
			e.t.Fatalf("%s: no next_cursor member", p)
		}
		for _, f := range fc.Features {
			id := fmt.Sprint(f.ID)
			if f.ID == nil {
				id = fmt.Sprint(f.Properties["ts"])
			}
			ids = append(ids, id)
		}
		pages++
		if fc.NextCursor == nil {
			break
		}
		cursor = *fc.NextCursor
	}
	return ids, pages
}

func unique(ids []string) bool {
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			return false
		}
		seen[id] = true
	}
	return true
}

// Every list pages with limit and cursor, in a stable order, with nothing lost or repeated; the
// track never cuts silently.
func TestPagination(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		must[tracking.Carrier](t)(e.db.CreateCarrier(ctx, tracking.Carrier{ID: fmt.Sprintf("c%d", i), Name: "C"}))
		must[tracking.Vehicle](t)(e.db.CreateVehicle(ctx, tracking.Vehicle{ID: fmt.Sprintf("v%d", i), CarrierID: "acme", Plate: "P"}))
		must[tracking.Corridor](t)(e.db.CreateCorridor(ctx, tracking.Corridor{Name: "K", BufferM: 100,
			Line: geom.NewLineStringFlat(geom.XY, []float64{107.0, 29.8, 107.1, 29.85})}))
		must[tracking.Zone](t)(e.db.CreateZone(ctx, tracking.Zone{Name: "Z", Kind: tracking.ZoneParking,
			Area: geom.NewPolygonFlat(geom.XY, []float64{107, 29.9, 107.01, 29.9, 107.01, 29.91, 107, 29.9}, []int{8})}))
		must[tracking.Trip](t)(e.db.CreateTrip(ctx, tracking.Trip{VehicleID: fmt.Sprintf("v%d", i), CorridorID: e.corridorID,
			StartsAt: e.now.Add(time.Duration(i) * time.Hour), EndsAt: e.now.Add(time.Duration(i)*time.Hour + time.Minute)}, ""))
		if _, _, err := e.db.CreateAPIKey(ctx, tracking.RoleSafety, "", "k"); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		path, role string
		total      int
	}{
		{"/v1/carriers?limit=2", roleAdmin, 6},
		{"/v1/vehicles?limit=2", roleAdmin, 7},
		{"/v1/vehicles?limit=2", roleCarrier, 6}, // acme's only
		{"/v1/trips?limit=3", roleAdmin, 6},
		{"/v1/api-keys?limit=2", roleAdmin, 8},
	} {
		ids, pages := e.walkArray(c.path, c.role)
		if len(ids) != c.total || !unique(ids) || pages < 2 {
			t.Errorf("%s as %s: %d items in %d pages (%v), want %d", c.path, c.role, len(ids), pages, ids, c.total)
		}
	}
	for _, c := range []struct {
		path  string
		total int
	}{{"/v1/corridors?limit=2", 5}, {"/v1/zones?limit=2", 5}} {
		ids, pages := e.walkFeatures(c.path, roleAdmin)
		if len(ids) != c.total || !unique(ids) || pages != 3 {
			t.Errorf("%s: %d items in %d pages, want %d", c.path, len(ids), pages, c.total)
		}
	}
	// Without limit: everything at once, and no next page.
	r := e.do("GET", "/v1/vehicles", roleAdmin, nil)
	if r.Header.Get("Link") != "" {
		t.Errorf("a full page announced a next one")
	}
	p := e.do("GET", "/v1/vehicles?cursor=bogus", roleAdmin, nil).problem(t)
	if p.Status != http.StatusBadRequest || p.Errors[0].Field != "cursor" {
		t.Errorf("bad cursor: %+v", p)
	}
	wantStatus(t, e.do("GET", "/v1/vehicles?limit=0", roleAdmin, nil), http.StatusBadRequest)

	// A track of 25 fixes, asked for 10 at a time: three pages, nothing lost; and the default
	// limit no longer cuts a long day silently.
	base := e.now.Add(-2 * time.Hour)
	for i := 0; i < 25; i++ {
		ts := base.Add(time.Duration(i) * time.Second)
		if _, err := e.db.Pool.Exec(ctx, `select positions_partition($1)`, ts); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.Pool.Exec(ctx, `insert into positions (vehicle_id, carrier_id, ts, lat, lon) values ('a1', 'acme', $1, 29.8, 107)`, ts); err != nil {
			t.Fatal(err)
		}
	}
	ids, pages := e.walkFeatures("/v1/vehicles/a1/track?limit=10", roleCarrier)
	if len(ids) != 25 || !unique(ids) || pages != 3 {
		t.Fatalf("track: %d fixes in %d pages", len(ids), pages)
	}
	r = e.do("GET", "/v1/vehicles/a1/track?limit=24", roleCarrier, nil)
	var fc map[string]json.RawMessage
	r.decode(t, &fc)
	if string(fc["next_cursor"]) == "null" || r.Header.Get("Link") == "" {
		t.Fatalf("track cut at 24 of 25 without a next_cursor: %s", fc["next_cursor"])
	}
}
