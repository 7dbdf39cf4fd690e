package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corridor-dev/corridor/pkg/engine/core"
	"github.com/corridor-dev/corridor/pkg/geofence"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// world is an immutable snapshot of what the engine checks fixes against: the core's World,
// the change counters it reflects and the geometries it was built from (to rebuild the index
// when only corridors or only zones change). Reloads build a new one and swap it atomically;
// parts that did not change are shared.
type world struct {
	core.World
	seqs      map[string]int64
	corridors []postgres.CorridorGeom
	zones     []postgres.ZoneGeom
}

// loader keeps the world current: on notifications (asynchronously) and, before each batch,
// by comparing the tables' change counters (synchronously), so no fix misses a committed change.
type loader struct {
	db      *postgres.DB
	current atomic.Pointer[world]
	mu      sync.Mutex // one reload at a time
	now     func() time.Time
	reloads atomic.Int64
}

var watchedTables = []string{"corridors", "zones", "trips", "vehicles"}

// sync reloads the tables whose counters moved since the current world was built (all of them
// when full is true) and returns the world to use.
func (l *loader) sync(ctx context.Context, full bool) (*world, error) {
	seqs, err := l.db.ChangeSeqs(ctx)
	if err != nil {
		return nil, err
	}
	cur := l.current.Load()
	if !full && cur != nil && sameSeqs(cur.seqs, seqs) {
		return cur, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cur = l.current.Load()
	if !full && cur != nil && sameSeqs(cur.seqs, seqs) {
		return cur, nil // reloaded while we waited
	}
	// Counters are read before the data, so the data is at least as new as the counters.
	seqs, err = l.db.ChangeSeqs(ctx)
	if err != nil {
		return nil, err
	}
	next := &world{seqs: seqs}
	if cur != nil && !full {
		*next = *cur
		next.seqs = seqs
	}
	stale := func(t string) bool { return full || cur == nil || cur.seqs[t] != seqs[t] }
	if stale("vehicles") {
		vs, err := l.db.EngineVehicles(ctx)
		if err != nil {
			return nil, err
		}
		next.Vehicles = make(map[string]core.Vehicle, len(vs))
		for id, v := range vs {
			next.Vehicles[id] = core.Vehicle{ID: v.ID, CarrierID: v.CarrierID, Plate: v.Plate}
		}
	}
	if stale("trips") {
		// Trips that ended more than a day ago can no longer apply to an acceptable fix... except
		// back-filled ones up to the 7-day staleness limit, so keep those too.
		trips, err := l.db.EngineTrips(ctx, l.now().Add(-tracking.MaxFixAge-time.Hour))
		if err != nil {
			return nil, err
		}
		next.Trips = make(map[string][]tracking.Trip)
		for _, t := range trips {
			next.Trips[t.VehicleID] = append(next.Trips[t.VehicleID], t)
		}
	}
	if stale("corridors") || stale("zones") {
		var cs []postgres.CorridorGeom
		var zs []postgres.ZoneGeom
		if cur != nil {
			cs, zs = cur.corridors, cur.zones
		}
		if stale("corridors") {
			if cs, err = l.db.EngineCorridors(ctx); err != nil {
				return nil, err
			}
		}
		if stale("zones") {
			if zs, err = l.db.EngineZones(ctx); err != nil {
				return nil, err
			}
		}
		next.corridors, next.zones = cs, zs
		next.Corridors = make(map[string]*core.Corridor, len(cs))
		gcs := make([]geofence.Corridor, 0, len(cs))
		for i := range cs {
			c := &cs[i]
			next.Corridors[c.ID] = &core.Corridor{ID: c.ID, BufferM: c.BufferM, MaxSpeedKmh: c.MaxSpeedKmh}
			max := 0.0
			if c.MaxSpeedKmh != nil {
				max = *c.MaxSpeedKmh
			}
			gcs = append(gcs, geofence.Corridor{ID: c.ID, Coords: c.Coords, BufferM: c.BufferM, MaxSpeedKmh: max})
		}
		next.Zones = make(map[string]*core.Zone, len(zs))
		gzs := make([]geofence.Zone, 0, len(zs))
		for i := range zs {
			z := &zs[i]
			next.Zones[z.ID] = &core.Zone{ID: z.ID, Kind: z.Kind, ActiveHours: z.ActiveHours}
			gzs = append(gzs, geofence.Zone{ID: z.ID, Kind: z.Kind, Polygons: z.Polygons})
		}
		next.Index = geofence.NewIndex(gcs, gzs)
	}
	l.current.Store(next)
	l.reloads.Add(1)
	return next, nil
}

func sameSeqs(a, b map[string]int64) bool {
	for _, t := range watchedTables {
		if a[t] != b[t] {
			return false
		}
	}
	return true
}
