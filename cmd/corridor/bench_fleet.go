package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/corridor-dev/corridor/pkg/geofence/geobench"
	"github.com/corridor-dev/corridor/pkg/sim"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// benchCarrier owns every vehicle a bench or chaos run creates.
const benchCarrier = "bench"

// benchVehicleID is the id of the i-th (1-based) bench vehicle.
func benchVehicleID(i int) string { return fmt.Sprintf("bench-%06d", i) }

// benchFleet is the data a run created: K corridors and vehicles 1..n, each on an active trip.
type benchFleet struct {
	corridorIDs []string
	lines       [][][2]float64 // by corridor index
	bufferM     float64
	tripStart   time.Time
	n           int // vehicles created so far
}

// createFleet makes k random corridors (about 30 km, 60 vertices, around Chongqing), the bench
// carrier and vehicles 1..v on trips that started at tripStart and end a day from now.
func createFleet(ctx context.Context, db *benchDB, v, k int, seed uint64, tripStart time.Time) (*benchFleet, error) {
	f := &benchFleet{bufferM: 300, tripStart: tripStart}
	if _, err := db.pool.Exec(ctx, `insert into carriers (id, name) values ($1, 'Corridor bench') on conflict do nothing`, benchCarrier); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, 17))
	shape := geobench.Shape{Vertices: 60, EdgeM: 500, MinLat: 29, MaxLat: 31, MinLon: 106, MaxLon: 108,
		MinBufferM: f.bufferM, MaxBufferM: f.bufferM}
	for i := 0; i < k; i++ {
		c := shape.Corridor(r, "")
		var wkt strings.Builder
		wkt.WriteString("SRID=4326;LINESTRING(")
		var line [][2]float64
		for j := 0; j+1 < len(c.Coords); j += 2 {
			if j > 0 {
				wkt.WriteString(",")
			}
			wkt.WriteString(strconv.FormatFloat(c.Coords[j], 'f', 7, 64) + " " + strconv.FormatFloat(c.Coords[j+1], 'f', 7, 64))
			line = append(line, [2]float64{c.Coords[j], c.Coords[j+1]})
		}
		wkt.WriteString(")")
		var id string
		if err := db.pool.QueryRow(ctx, `insert into corridors (name, geom, buffer_m, max_speed_kmh)
			values ($1, $2::geography, $3, 80) returning id::text`, fmt.Sprintf("bench corridor %d", i+1), wkt.String(), f.bufferM).Scan(&id); err != nil {
			return nil, fmt.Errorf("corridor: %v", err)
		}
		f.corridorIDs = append(f.corridorIDs, id)
		f.lines = append(f.lines, line)
	}
	return f, f.grow(ctx, db, v)
}

// grow adds vehicles (with their trips) up to n in all, in one statement each.
func (f *benchFleet) grow(ctx context.Context, db *benchDB, n int) error {
	if n <= f.n {
		return nil
	}
	if _, err := db.pool.Exec(ctx, `insert into vehicles (id, carrier_id, plate)
		select format('bench-%s', lpad(g::text, 6, '0')), $3, 'B' || g from generate_series($1::int, $2::int) g`,
		f.n+1, n, benchCarrier); err != nil {
		return fmt.Errorf("vehicles: %v", err)
	}
	if _, err := db.pool.Exec(ctx, `insert into trips (vehicle_id, carrier_id, corridor_id, starts_at, ends_at)
		select format('bench-%s', lpad(g::text, 6, '0')), $3, ($4::uuid[])[1 + (g - 1) % cardinality($4::uuid[])], $5, now() + interval '1 day'
		from generate_series($1::int, $2::int) g`, f.n+1, n, benchCarrier, f.corridorIDs, f.tripStart); err != nil {
		return fmt.Errorf("trips: %v", err)
	}
	f.n = n
	return nil
}

// specs returns the simulated vehicles 1..n (well-behaved trucks on their corridors) anchored at
// start.
func (f *benchFleet) specs(n int, start time.Time) sim.Fleet {
	var fl sim.Fleet
	for i := 1; i <= n; i++ {
		ci := (i - 1) % len(f.corridorIDs)
		fl.Vehicles = append(fl.Vehicles, sim.VehicleSpec{VehicleID: benchVehicleID(i), CarrierID: benchCarrier,
			Plate: "B" + strconv.Itoa(i), CorridorID: f.corridorIDs[ci], Line: f.lines[ci], BufferM: f.bufferM,
			MaxSpeedKmh: 80, Start: start, NotBefore: start, OdometerKm: 100000})
	}
	return fl
}

// fixClock hands out the simulated fleet's fixes window by window: each window's fixes are newer
// than every earlier window's, as a live fleet's are.
type fixClock struct {
	s        *sim.Sim
	t        time.Time
	interval time.Duration
}

func newFixClock(fleet sim.Fleet, start time.Time, interval time.Duration) *fixClock {
	return &fixClock{s: sim.NewSim(fleet, sim.Options{Seed: 1, Interval: interval}), t: start, interval: interval}
}

// next returns the fixes of the next k intervals: about k per vehicle, in time order.
func (c *fixClock) next(k int) []tracking.Position {
	c.t = c.t.Add(time.Duration(k) * c.interval)
	return c.s.Step(c.t)
}

// fixMsg encodes a fix as the gateway publishes it (subject, JSON, Nats-Msg-Id).
func fixMsg(p *tracking.Position) *nats.Msg {
	data, _ := json.Marshal(p)
	return &nats.Msg{Subject: p.Subject(), Data: data, Header: nats.Header{jetstream.MsgIDHeader: []string{p.MsgID()}}}
}

func fixMsgs(ps []tracking.Position) []*nats.Msg {
	out := make([]*nats.Msg, len(ps))
	for i := range ps {
		out[i] = fixMsg(&ps[i])
	}
	return out
}

// oneFixEach returns one fix per vehicle lo..hi at ts, at the start of its corridor.
func (f *benchFleet) oneFixEach(lo, hi int, ts time.Time) []*nats.Msg {
	out := make([]*nats.Msg, 0, hi-lo+1)
	speed := 40.0
	for i := lo; i <= hi; i++ {
		line := f.lines[(i-1)%len(f.lines)]
		p := tracking.Position{VehicleID: benchVehicleID(i), CarrierID: benchCarrier, TS: ts, Lon: line[0][0], Lat: line[0][1], SpeedKmh: &speed}
		out = append(out, fixMsg(&p))
	}
	return out
}
