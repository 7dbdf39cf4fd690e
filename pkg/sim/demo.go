package sim

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twpayne/go-geom"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// changshouGeoJSON is the demo geography: three hazmat corridors around Changshou, Chongqing,
// and restricted and terminal zones (hand-placed, off by up to 2–3 km; for demos and tests).
//
//go:embed demo/changshou.geojson
var changshouGeoJSON []byte

// DemoSeed is the seed of the demo fleet's behaviours and noise.
const DemoSeed = 808

// DemoTripLead is how long before seeding a new demo trip starts: the fleet's first minutes are
// published at once, so that alarms show from the start, while every truck's first fix still
// arrives well within CORRIDOR_OFFLINE_AFTER (5 min) of its trip's start (no spurious
// signal_lost).
const DemoTripLead = 4 * time.Minute

// DemoTripLength is the length of the demo trips; a trip ending within DemoTripRenew gets a
// successor when the demo is seeded again.
const (
	DemoTripLength = 30 * 24 * time.Hour
	DemoTripRenew  = 7 * 24 * time.Hour
)

// DemoVehicle is one truck of the demo: its vehicle row, its corridor (by name) and its cargo.
type DemoVehicle struct {
	Vehicle  tracking.Vehicle
	Corridor string
	Cargo    tracking.Cargo
}

// DemoData is the whole demo: carriers, vehicles, corridors and zones (the corridors and zones
// without ids, as the server assigns them).
type DemoData struct {
	Carriers  []tracking.Carrier
	Vehicles  []DemoVehicle
	Corridors []tracking.Corridor
	Zones     []tracking.Zone
}

type chemical struct {
	un, class, name string
	kg              float64
}

// Chemicals moved through Changshou's chemical park, wharf and railway (UN number, class).
var demoChemicals = []chemical{
	{"1203", "3", "Gasoline (motor spirit)", 24000},
	{"1230", "3", "Methanol", 26000},
	{"1090", "3", "Acetone", 24000},
	{"1789", "8", "Hydrochloric acid, 31 %", 28000},
	{"1830", "8", "Sulphuric acid, 98 %", 30000},
	{"2789", "8", "Acetic acid, glacial", 27000},
	{"1202", "3", "Diesel fuel", 25000},
	{"1005", "2.3", "Ammonia, anhydrous", 14000},
	{"1114", "3", "Benzene", 23000},
	{"1824", "8", "Sodium hydroxide solution, 32 %", 30000},
	{"1017", "2.3", "Chlorine", 12000},
	{"2031", "8", "Nitric acid, 65 %", 26000},
}

var (
	demoOnce sync.Once
	demoData DemoData
	demoErr  error
)

// Demo returns the Changshou demo data, parsed from the embedded GeoJSON: 3 carriers, 18 trucks
// (6 per corridor) with Chongqing plates, JT/T 808 terminal numbers and real cargoes.
func Demo() (DemoData, error) {
	demoOnce.Do(func() { demoData, demoErr = buildDemo() })
	return demoData, demoErr
}

type featureIn struct {
	Geometry struct {
		Type        string          `json:"type"`
		Coordinates json.RawMessage `json:"coordinates"`
	} `json:"geometry"`
	Properties struct {
		Layer       string                `json:"layer"`
		Name        string                `json:"name"`
		BufferM     float64               `json:"buffer_m"`
		MaxSpeedKmh *float64              `json:"max_speed_kmh"`
		Kind        string                `json:"kind"`
		ActiveHours *tracking.ActiveHours `json:"active_hours"`
	} `json:"properties"`
}

func buildDemo() (DemoData, error) {
	var fc struct {
		Features []featureIn `json:"features"`
	}
	if err := json.Unmarshal(changshouGeoJSON, &fc); err != nil {
		return DemoData{}, fmt.Errorf("demo geojson: %v", err)
	}
	var d DemoData
	for _, f := range fc.Features {
		switch f.Properties.Layer {
		case "corridor":
			var cs [][]float64
			if err := json.Unmarshal(f.Geometry.Coordinates, &cs); err != nil || f.Geometry.Type != "LineString" {
				return DemoData{}, fmt.Errorf("demo corridor %q: bad LineString", f.Properties.Name)
			}
			fl := make([]float64, 0, 2*len(cs))
			for _, c := range cs {
				fl = append(fl, c[0], c[1])
			}
			d.Corridors = append(d.Corridors, tracking.Corridor{Name: f.Properties.Name,
				Line:    geom.NewLineStringFlat(geom.XY, fl).SetSRID(4326),
				BufferM: f.Properties.BufferM, MaxSpeedKmh: f.Properties.MaxSpeedKmh})
		case "zone":
			var rs [][][]float64
			if err := json.Unmarshal(f.Geometry.Coordinates, &rs); err != nil || f.Geometry.Type != "Polygon" {
				return DemoData{}, fmt.Errorf("demo zone %q: bad Polygon", f.Properties.Name)
			}
			var fl []float64
			var ends []int
			for _, r := range rs {
				for _, c := range r {
					fl = append(fl, c[0], c[1])
				}
				ends = append(ends, len(fl))
			}
			d.Zones = append(d.Zones, tracking.Zone{Name: f.Properties.Name, Kind: f.Properties.Kind,
				Area: geom.NewPolygonFlat(geom.XY, fl, ends).SetSRID(4326), ActiveHours: f.Properties.ActiveHours})
		}
	}
	if len(d.Corridors) == 0 {
		return DemoData{}, fmt.Errorf("demo geojson: no corridor")
	}
	d.Carriers = []tracking.Carrier{
		{ID: "cs-chem", Name: "长寿化工物流 Changshou Chemical Logistics Co., Ltd."},
		{ID: "yuba-hazmat", Name: "渝巴危险品运输 Yuba Hazardous Goods Transport Co., Ltd."},
		{ID: "fl-gangtong", Name: "涪陵港通物流 Fuling Gangtong Logistics Co., Ltd."},
	}
	// 18 trucks, 6 per corridor, the carriers mixed across corridors.
	type fleetOf struct {
		carrier, prefix, plate string
		n                      int
	}
	fleets := []fleetOf{{"cs-chem", "csc", "渝A·D", 7}, {"yuba-hazmat", "ybh", "渝B·D", 6}, {"fl-gangtong", "flg", "渝G·D", 5}}
	k := 0
	for fi, f := range fleets {
		for i := 0; i < f.n; i++ {
			id := fmt.Sprintf("%s-%03d", f.prefix, 101+i)
			plate := fmt.Sprintf("%s%04d", f.plate, 1203+fi*311+i*137)
			term := fmt.Sprintf("1440%02d%05d", 23+fi, 10101+i*7)
			ch := demoChemicals[k%len(demoChemicals)]
			un, class := ch.un, ch.class
			q := ch.kg
			d.Vehicles = append(d.Vehicles, DemoVehicle{
				Vehicle: tracking.Vehicle{ID: id, CarrierID: f.carrier, Plate: plate, TerminalID: &term,
					HazardClass: &class, UNNumber: &un},
				Corridor: d.Corridors[k%len(d.Corridors)].Name,
				Cargo:    tracking.Cargo{UNNumber: un, HazardClass: class, Description: ch.name, QuantityKg: &q},
			})
			k++
		}
	}
	return d, nil
}

// DemoStore is what SeedDemo needs from the database; *postgres.DB satisfies it.
type DemoStore interface {
	CreateCarrier(ctx context.Context, c tracking.Carrier) (tracking.Carrier, error)
	CreateVehicle(ctx context.Context, v tracking.Vehicle) (tracking.Vehicle, error)
	GetVehicle(ctx context.Context, id, carrierID string) (tracking.Vehicle, error)
	ListCorridors(ctx context.Context) ([]tracking.Corridor, error)
	CreateCorridor(ctx context.Context, c tracking.Corridor) (tracking.Corridor, error)
	ListZones(ctx context.Context) ([]tracking.Zone, error)
	CreateZone(ctx context.Context, z tracking.Zone) (tracking.Zone, error)
	ListTrips(ctx context.Context, carrierID, vehicleID string, active *bool) ([]tracking.Trip, error)
	CreateTrip(ctx context.Context, t tracking.Trip, carrierID string) (tracking.Trip, error)
}

// SeedDemo stores the demo data (create if absent: carriers and vehicles by id, corridors and
// zones by name, one active trip per truck, reused when present) and returns the demo fleet
// planned with DemoSeed. Running it twice changes nothing the second time. A demo vehicle id
// taken by a deleted vehicle, or a truck whose new trip would overlap a future one, is left out.
func SeedDemo(ctx context.Context, store DemoStore) (Fleet, error) {
	d, err := Demo()
	if err != nil {
		return Fleet{}, err
	}
	now := time.Now().UTC()
	corridors, zones, err := ensureGeography(ctx, store, d)
	if err != nil {
		return Fleet{}, err
	}
	for _, c := range d.Carriers {
		if _, err := store.CreateCarrier(ctx, c); err != nil && tracking.ErrorCode(err) != tracking.ECONFLICT {
			return Fleet{}, fmt.Errorf("demo carrier %s: %w", c.ID, err)
		}
	}
	var fleet Fleet
	for _, dv := range d.Vehicles {
		c, ok := corridors[dv.Corridor]
		if !ok {
			continue
		}
		spec, ok, err := ensureTruck(ctx, store, dv.Vehicle, c, &dv.Cargo, now, DemoTripLead, corridorsByID(corridors))
		if err != nil {
			return Fleet{}, err
		}
		if ok {
			fleet.Vehicles = append(fleet.Vehicles, spec)
		}
	}
	return Plan(fleet, zones, DemoSeed, true), nil
}

func corridorsByID(m map[string]tracking.Corridor) map[string]tracking.Corridor {
	out := make(map[string]tracking.Corridor, len(m))
	for _, c := range m {
		out[c.ID] = c
	}
	return out
}

// ensureGeography creates the demo corridors and zones that do not exist by name; it returns
// every corridor by name and every zone.
func ensureGeography(ctx context.Context, store DemoStore, d DemoData) (map[string]tracking.Corridor, []tracking.Zone, error) {
	cs, err := store.ListCorridors(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("demo corridors: %w", err)
	}
	byName := map[string]tracking.Corridor{}
	for _, c := range cs {
		if _, dup := byName[c.Name]; !dup {
			byName[c.Name] = c
		}
	}
	for _, c := range d.Corridors {
		if _, ok := byName[c.Name]; ok {
			continue
		}
		made, err := store.CreateCorridor(ctx, c)
		if err != nil {
			return nil, nil, fmt.Errorf("demo corridor %q: %w", c.Name, err)
		}
		byName[c.Name] = made
	}
	zs, err := store.ListZones(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("demo zones: %w", err)
	}
	have := map[string]bool{}
	for _, z := range zs {
		have[z.Name] = true
	}
	for _, z := range d.Zones {
		if have[z.Name] {
			continue
		}
		made, err := store.CreateZone(ctx, z)
		if err != nil {
			return nil, nil, fmt.Errorf("demo zone %q: %w", z.Name, err)
		}
		zs = append(zs, made)
	}
	return byName, zs, nil
}

// ensureTruck creates the vehicle if absent and gives it an active trip on corridor c (reusing
// an active one, on whatever corridor). A new trip starts lead before now.
func ensureTruck(ctx context.Context, store DemoStore, v tracking.Vehicle, c tracking.Corridor, cargo *tracking.Cargo,
	now time.Time, lead time.Duration, byID map[string]tracking.Corridor) (VehicleSpec, bool, error) {
	veh, err := store.CreateVehicle(ctx, v)
	if tracking.ErrorCode(err) == tracking.ECONFLICT {
		if veh, err = store.GetVehicle(ctx, v.ID, ""); tracking.ErrorCode(err) == tracking.ENOTFOUND {
			// a deleted vehicle keeps its id; or the terminal id belongs to another vehicle
			v.TerminalID = nil
			if veh, err = store.CreateVehicle(ctx, v); tracking.ErrorCode(err) == tracking.ECONFLICT {
				return VehicleSpec{}, false, nil
			}
		}
	}
	if err != nil {
		return VehicleSpec{}, false, fmt.Errorf("vehicle %s: %w", v.ID, err)
	}
	active := true
	trips, err := store.ListTrips(ctx, "", veh.ID, &active)
	if err != nil {
		return VehicleSpec{}, false, fmt.Errorf("trips of %s: %w", v.ID, err)
	}
	var trip tracking.Trip
	if len(trips) > 0 {
		trip = trips[len(trips)-1]
		if tc, ok := byID[trip.CorridorID]; ok {
			c = tc
		}
		if trip.EndsAt.Sub(now) < DemoTripRenew {
			// a successor, so the demo goes on; an overlap with a later trip is fine to skip
			_, _ = store.CreateTrip(ctx, tracking.Trip{VehicleID: veh.ID, CorridorID: c.ID, StartsAt: trip.EndsAt,
				EndsAt: trip.EndsAt.Add(DemoTripLength), Cargo: cargo}, "")
		}
	} else {
		start := now.Add(-lead).Truncate(time.Second)
		trip, err = store.CreateTrip(ctx, tracking.Trip{VehicleID: veh.ID, CorridorID: c.ID, StartsAt: start,
			EndsAt: start.Add(DemoTripLength), Cargo: cargo}, "")
		if tracking.ErrorCode(err) == tracking.ECONFLICT {
			return VehicleSpec{}, false, nil
		}
		if err != nil {
			return VehicleSpec{}, false, fmt.Errorf("trip of %s: %w", v.ID, err)
		}
	}
	return SpecOf(veh, trip, c), true, nil
}

// SpecOf is the simulated vehicle of a vehicle on a trip along corridor c (well-behaved; see Plan).
func SpecOf(v tracking.Vehicle, trip tracking.Trip, c tracking.Corridor) VehicleSpec {
	s := VehicleSpec{VehicleID: v.ID, CarrierID: v.CarrierID, Plate: v.Plate, TripID: trip.ID, CorridorID: c.ID,
		BufferM: c.BufferM, Start: trip.StartsAt, NotBefore: trip.StartsAt}
	if c.MaxSpeedKmh != nil {
		s.MaxSpeedKmh = *c.MaxSpeedKmh
	}
	if c.Line != nil {
		fc := c.Line.FlatCoords()
		st := c.Line.Stride()
		for i := 0; i+1 < len(fc); i += st {
			s.Line = append(s.Line, [2]float64{fc[i], fc[i+1]})
		}
	}
	return s
}

// LoadCarrier is the carrier of the load-test vehicles.
const LoadCarrier = "corridor-load"

// LoadTripLead is how far back a new load-test trip starts: load mode publishes the trucks'
// days since then as fast as it can (fixes are accepted up to 7 days old).
const LoadTripLead = 6 * 24 * time.Hour

// SeedLoad makes sure the demo geography and n load-test vehicles (load-00001 …, carrier
// LoadCarrier, no terminal id) exist, each on an active trip along the demo corridors in turn,
// and returns them as a well-behaved fleet. Idempotent.
func SeedLoad(ctx context.Context, store DemoStore, n int) (Fleet, error) {
	d, err := Demo()
	if err != nil {
		return Fleet{}, err
	}
	now := time.Now().UTC()
	corridors, zones, err := ensureGeography(ctx, store, d)
	if err != nil {
		return Fleet{}, err
	}
	if _, err := store.CreateCarrier(ctx, tracking.Carrier{ID: LoadCarrier, Name: "Corridor load test"}); err != nil && tracking.ErrorCode(err) != tracking.ECONFLICT {
		return Fleet{}, fmt.Errorf("load carrier: %w", err)
	}
	var cs []tracking.Corridor
	for _, c := range d.Corridors {
		cs = append(cs, corridors[c.Name])
	}
	byID := corridorsByID(corridors)
	specs := make([]VehicleSpec, n)
	oks := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id := fmt.Sprintf("load-%05d", i+1)
			v := tracking.Vehicle{ID: id, CarrierID: LoadCarrier, Plate: "LOAD-" + strings.TrimPrefix(id, "load-")}
			specs[i], oks[i], errs[i] = ensureTruck(ctx, store, v, cs[i%len(cs)], nil, now, LoadTripLead, byID)
		}()
	}
	wg.Wait()
	var fleet Fleet
	for i := range specs {
		if errs[i] != nil {
			return Fleet{}, errs[i]
		}
		if oks[i] {
			fleet.Vehicles = append(fleet.Vehicles, specs[i])
		}
	}
	return Plan(fleet, zones, 0, false), nil
}
