package engine

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corridor-dev/corridor/pkg/geofence"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// world is an immutable snapshot of what the engine checks fixes against. Reloads build a new
// one and swap it atomically; parts that did not change are shared.
type world struct {
	seqs      map[string]int64
	index     *geofence.Index
	corridors map[string]*postgres.CorridorGeom
	zones     map[string]*postgres.ZoneGeom
	vehicles  map[string]postgres.EngineVehicle
	trips     map[string][]tracking.Trip // by vehicle, ordered by start
}

// activeTrip returns the vehicle's trip active at ts (starts_at <= ts < ends_at, not cancelled).
func (w *world) activeTrip(vehicleID string, ts time.Time) *tracking.Trip {
	ts2 := w.trips[vehicleID]
	// trips of one vehicle never overlap: the last one starting at or before ts is the candidate
	i := sort.Search(len(ts2), func(i int) bool { return ts2[i].StartsAt.After(ts) }) - 1
	if i >= 0 && ts2[i].ActiveAt(ts) {
		return &ts2[i]
	}
	return nil
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
		if next.vehicles, err = l.db.EngineVehicles(ctx); err != nil {
			return nil, err
		}
	}
	if stale("trips") {
		// Trips that ended more than a day ago can no longer apply to an acceptable fix... except
		// back-filled ones up to the 7-day staleness limit, so keep those too.
		trips, err := l.db.EngineTrips(ctx, l.now().Add(-tracking.MaxFixAge-time.Hour))
		if err != nil {
			return nil, err
		}
		next.trips = make(map[string][]tracking.Trip)
		for _, t := range trips {
			next.trips[t.VehicleID] = append(next.trips[t.VehicleID], t)
		}
	}
	if stale("corridors") || stale("zones") {
		cs := cur.corridorList()
		zs := cur.zoneList()
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
		next.corridors = make(map[string]*postgres.CorridorGeom, len(cs))
		gcs := make([]geofence.Corridor, 0, len(cs))
		for i := range cs {
			c := &cs[i]
			next.corridors[c.ID] = c
			max := 0.0
			if c.MaxSpeedKmh != nil {
				max = *c.MaxSpeedKmh
			}
			gcs = append(gcs, geofence.Corridor{ID: c.ID, Coords: c.Coords, BufferM: c.BufferM, MaxSpeedKmh: max})
		}
		next.zones = make(map[string]*postgres.ZoneGeom, len(zs))
		gzs := make([]geofence.Zone, 0, len(zs))
		for i := range zs {
			z := &zs[i]
			next.zones[z.ID] = z
			gzs = append(gzs, geofence.Zone{ID: z.ID, Kind: z.Kind, Polygons: z.Polygons})
		}
		next.index = geofence.NewIndex(gcs, gzs)
	}
	l.current.Store(next)
	l.reloads.Add(1)
	return next, nil
}

func (w *world) corridorList() []postgres.CorridorGeom {
	if w == nil {
		return nil
	}
	out := make([]postgres.CorridorGeom, 0, len(w.corridors))
	for _, c := range w.corridors {
		out = append(out, *c)
	}
	return out
}

func (w *world) zoneList() []postgres.ZoneGeom {
	if w == nil {
		return nil
	}
	out := make([]postgres.ZoneGeom, 0, len(w.zones))
	for _, z := range w.zones {
		out = append(out, *z)
	}
	return out
}

func sameSeqs(a, b map[string]int64) bool {
	for _, t := range watchedTables {
		if a[t] != b[t] {
			return false
		}
	}
	return true
}
