package postgres_test

import (
	"context"
	"testing"

	"github.com/twpayne/go-geom"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

func square(lon, lat, d float64) *geom.Polygon {
	return geom.NewPolygonFlat(geom.XY, []float64{lon, lat, lon + d, lat, lon + d, lat + d, lon, lat + d, lon, lat},
		[]int{10}).SetSRID(4326)
}

func TestZones(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	z, err := db.CreateZone(ctx, tracking.Zone{Name: "intake", Kind: tracking.ZoneRestricted, Area: square(107, 29.8, 0.01),
		ActiveHours: &tracking.ActiveHours{From: "22:00", To: "06:30"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := z.Area.(*geom.Polygon); !ok || z.ActiveHours == nil || z.ActiveHours.From != "22:00" || z.ActiveHours.To != "06:30" {
		t.Fatalf("created %+v", z)
	}
	mp := geom.NewMultiPolygon(geom.XY)
	if err := mp.Push(square(107, 29, 0.01)); err != nil {
		t.Fatal(err)
	}
	if err := mp.Push(square(107.1, 29, 0.01)); err != nil {
		t.Fatal(err)
	}
	m, err := db.CreateZone(ctx, tracking.Zone{Name: "depots", Kind: tracking.ZoneParking, Area: mp})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := m.Area.(*geom.MultiPolygon); !ok || got.NumPolygons() != 2 || m.ActiveHours != nil {
		t.Fatalf("multipolygon zone %+v", m)
	}
	_, err = db.CreateZone(ctx, tracking.Zone{Name: "x", Kind: "school", Area: square(1, 1, 1)})
	wantCode(t, err, tracking.EINVALID)
	bowtie := geom.NewPolygonFlat(geom.XY, []float64{0, 0, 1, 1, 1, 0, 0, 1, 0, 0}, []int{10})
	_, err = db.CreateZone(ctx, tracking.Zone{Name: "bowtie", Kind: tracking.ZoneParking, Area: bowtie})
	wantCode(t, err, tracking.EINVALID)
	if f := err.(*tracking.Error).Fields; len(f) != 1 || f[0].Field != "geometry" {
		t.Fatalf("bowtie fields %+v", f)
	}

	z.Kind = tracking.ZoneTerminal
	z.ActiveHours = nil
	r, err := db.ReplaceZone(ctx, z)
	if err != nil || r.Kind != tracking.ZoneTerminal || r.ActiveHours != nil {
		t.Fatalf("replace %+v %v", r, err)
	}
	list, err := db.ListZones(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("list %v %v", list, err)
	}
	if err := db.DeleteZone(ctx, z.ID); err != nil {
		t.Fatal(err)
	}
	_, err = db.GetZone(ctx, z.ID)
	wantCode(t, err, tracking.ENOTFOUND)
	wantCode(t, db.DeleteZone(ctx, z.ID), tracking.ENOTFOUND)
	if got, err := db.GetZone(ctx, m.ID); err != nil || got.Name != "depots" {
		t.Fatalf("get %+v %v", got, err)
	}
}
