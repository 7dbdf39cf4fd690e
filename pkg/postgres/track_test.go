package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

func TestTrack(t *testing.T) {
	db := testDB(t)
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	for i := 0; i < 5; i++ {
		ts := base.Add(time.Duration(i) * time.Minute)
		if _, err := db.Pool.Exec(ctx, `select positions_partition($1)`, ts); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Pool.Exec(ctx, `insert into positions (vehicle_id, carrier_id, ts, lat, lon, speed_kmh, device_alarms, flags)
			values ('v1', 'acme', $1, $2, 107, $3, $4, $5)`, ts, 29+float64(i)/100, float64(i*10),
			[]string{"overspeed"}, []string{tracking.FlagOutOfOrder}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := db.Track(ctx, "v1", tracking.TrackFilter{})
	if err != nil || len(all) != 5 {
		t.Fatalf("all %v %v", all, err)
	}
	p := all[2]
	if !p.TS.Equal(base.Add(2*time.Minute)) || p.Lat != 29.02 || *p.SpeedKmh != 20 || p.HeadingDeg != nil || p.CarrierID != "acme" ||
		len(p.DeviceAlarms) != 1 || len(p.Flags) != 1 || p.ReceivedAt.IsZero() {
		t.Fatalf("position %+v", p)
	}
	window, err := db.Track(ctx, "v1", tracking.TrackFilter{From: base.Add(time.Minute), To: base.Add(3 * time.Minute)})
	if err != nil || len(window) != 2 || !window[0].TS.Equal(base.Add(time.Minute)) {
		t.Fatalf("window %v %v", window, err)
	}
	limited, err := db.Track(ctx, "v1", tracking.TrackFilter{Limit: 3})
	if err != nil || len(limited) != 3 || !limited[0].TS.Equal(base) {
		t.Fatalf("limited %v %v", limited, err)
	}
	none, err := db.Track(ctx, "v2", tracking.TrackFilter{})
	if err != nil || none == nil && len(none) != 0 {
		t.Fatalf("none %v %v", none, err)
	}
}
