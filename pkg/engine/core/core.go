package core

import (
	"fmt"
	"time"

	"github.com/corridor-dev/corridor/pkg/geo"
	"github.com/corridor-dev/corridor/pkg/geofence"
	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// MaxPlausibleKmh is the implied speed between two fixes above which they disagree: a fix that
// disagrees with the reference (and with the suspect before it) is stored flagged as an
// implausible jump and drives no rule.
const MaxPlausibleKmh = 250

// State is one vehicle's state as checkpointed (JSON, compatible with the engine's earlier
// vehicle_state.rules).
type State struct {
	Rules   rules.State `json:"rules"`
	LastTS  time.Time   `json:"last_ts"` // the reference: last fix that drove the rules
	LastLat float64     `json:"last_lat"`
	LastLon float64     `json:"last_lon"`
	Hint    int         `json:"hint"` // geofence segment matched last
	// Suspect is the last fix judged implausible against the reference. When the next fix agrees
	// with it and not with the reference, the reference was the outlier: the rules resume.
	Suspect *Ref `json:"suspect,omitempty"`
	// AvgKmh is the vehicle's speed averaged over time (tracking.SmoothSpeed) as of AvgAt, for
	// the ETA along its corridor.
	AvgKmh float64   `json:"avg_kmh,omitempty"`
	AvgAt  time.Time `json:"avg_at,omitzero"`
}

// Ref is a fix's time and place.
type Ref struct {
	TS  time.Time `json:"ts"`
	Lat float64   `json:"lat"`
	Lon float64   `json:"lon"`
}

// NewState is the state of a vehicle never seen.
func NewState() State { return State{Hint: -1} }

// Outcome is what one fix or one tick did to a vehicle.
type Outcome struct {
	Vehicle   Vehicle
	Position  *tracking.StoredPosition // to store (nil: a tick, or a duplicate of the last fix)
	Duplicate bool                     // same ts as the vehicle's last fix: nothing to store
	Changes   []rules.Change           // alarm changes, in order
	Live      *tracking.VehicleState   // the new live state; nil when it did not change
}

// Snapshot is a vehicle's state to checkpoint.
type Snapshot struct {
	VehicleID string
	State     State
	Live      *tracking.VehicleState
}

type vehicle struct {
	st    State
	live  *tracking.VehicleState
	dirty bool // changed since the last checkpoint (and listed in Core.dirty)
}

// Core owns every vehicle's state. It is not safe for concurrent use: one goroutine (the
// partition's) drives it.
type Core struct {
	cfg   rules.Config
	vs    map[string]*vehicle
	batch bool // within a batch (Begin): changes are saved in undo
	// Within a batch, each changed vehicle as it was at Begin (saved once, by value: the batch
	// changes the vehicle in place), and where in undo each one is. Both are reused.
	undo   []undoEntry
	undoAt map[string]int32
	dirty  []string                    // the vehicles marked dirty, in the order they were (some maybe no longer)
	owns   func(vehicleID string) bool // the vehicles of this core's partition (nil: every vehicle)

	// The time-driven rules' schedule (due.go): each owned vehicle's next due time under world
	// armed (nil: to rebuild), counted from from (the last tick).
	due   schedule
	armed *World
	from  time.Time
	ticks []string // the vehicles due at a tick (reused)
}

// New returns a core without vehicles.
func New(cfg rules.Config) *Core {
	return &Core{cfg: cfg, vs: map[string]*vehicle{}, undoAt: map[string]int32{}}
}

// SetOwner limits the time-driven rules to the vehicles owns accepts: a core drives one stream
// partition, and a vehicle of another partition is another core's (and maybe another
// process's). Fixes reach Apply only for the partition's vehicles already.
func (c *Core) SetOwner(owns func(vehicleID string) bool) { c.owns, c.armed = owns, nil }

// Len is the number of vehicles with state.
func (c *Core) Len() int { return len(c.vs) }

// Restore sets a vehicle's state from a checkpoint.
func (c *Core) Restore(id string, st State, live *tracking.VehicleState) {
	c.vs[id] = &vehicle{st: st, live: live}
	c.armed = nil // restores come in bulk: the schedule is rebuilt once, at the next Apply or Tick
}

// State returns a vehicle's current state.
func (c *Core) State(id string) (State, *tracking.VehicleState, bool) {
	v := c.vs[id]
	if v == nil {
		return State{}, nil, false
	}
	return v.st, v.live, true
}

// Begin starts a batch: the changes until Commit can be undone by Rollback.
func (c *Core) Begin() { c.batch = true; c.endBatch() }

// Commit ends the batch, keeping its changes.
func (c *Core) Commit() { c.batch = false; c.endBatch() }

// undoEntry is a vehicle as it was at Begin.
type undoEntry struct {
	id     string
	old    vehicle
	absent bool // it had no state
}

func (c *Core) endBatch() {
	if cap(c.undo) > keepUndo { // a tick that changed a whole fleet: not kept for good
		c.undo, c.undoAt = nil, map[string]int32{}
		return
	}
	clear(c.undo) // drop the references the saved states hold
	c.undo = c.undo[:0]
	clear(c.undoAt)
}

// keepUndo is the number of saved vehicles whose room is kept from one batch to the next
// (a batch of fixes is at most a few thousand).
const keepUndo = 4096

// Rollback ends the batch, putting every vehicle it changed back as it was at Begin.
func (c *Core) Rollback() {
	for i := range c.undo {
		u := &c.undo[i]
		if u.absent {
			delete(c.vs, u.id)
		} else {
			*c.vs[u.id] = u.old
		}
		c.arm(u.id)
	}
	c.batch = false
	c.endBatch()
}

// TakeDirty returns the vehicles changed since the last call (for a checkpoint). It is called
// between batches.
func (c *Core) TakeDirty() []Snapshot {
	out := make([]Snapshot, 0, len(c.dirty))
	for _, id := range c.dirty {
		// A vehicle rolled back to before its change, or listed twice, is no longer dirty.
		if v := c.vs[id]; v != nil && v.dirty {
			out = append(out, Snapshot{VehicleID: id, State: v.st, Live: v.live})
			v.dirty = false
		}
	}
	clear(c.dirty)
	c.dirty = c.dirty[:0]
	return out
}

// MarkDirty puts vehicles back for the next checkpoint (after a failed one); called between
// batches.
func (c *Core) MarkDirty(ids []string) {
	for _, id := range ids {
		if v := c.vs[id]; v != nil && !v.dirty {
			v.dirty = true
			c.dirty = append(c.dirty, id)
		}
	}
}

// mutable returns the vehicle's state to change, saving it for Rollback (once per batch) and
// marking it dirty.
func (c *Core) mutable(id string) *vehicle {
	v := c.vs[id]
	if c.batch {
		if _, saved := c.undoAt[id]; !saved {
			c.undoAt[id] = int32(len(c.undo))
			if v != nil {
				c.undo = append(c.undo, undoEntry{id: id, old: *v})
			} else {
				c.undo = append(c.undo, undoEntry{id: id, absent: true})
			}
		}
	}
	if v == nil {
		v = &vehicle{st: NewState()}
		c.vs[id] = v
	}
	if !v.dirty {
		v.dirty = true
		c.dirty = append(c.dirty, id)
	}
	return v
}

func plausible(from Ref, p *tracking.Position) bool {
	h := p.TS.Sub(from.TS).Hours()
	return geo.GreatCircle(from.Lon, from.Lat, p.Lon, p.Lat)/1000 <= MaxPlausibleKmh*h
}

// Apply processes one valid fix of a known vehicle, received at received (server clock); flags
// are stored with it (e.g. bad_can).
func (c *Core) Apply(w *World, veh Vehicle, p tracking.Position, flags []string, received time.Time) Outcome {
	c.sync(w)
	v := c.mutable(veh.ID)
	defer c.arm(veh.ID)
	st := &v.st
	out := Outcome{Vehicle: veh}
	sp := &tracking.StoredPosition{Position: p, ReceivedAt: received, Flags: flags}
	newer := p.TS.After(st.LastTS)
	in := rules.Input{Fix: rules.Fix{TS: p.TS, Lat: p.Lat, Lon: p.Lon, SpeedKmh: p.SpeedKmh, DeviceAlarms: p.DeviceAlarms}, ReceivedAt: received}
	var dist *float64
	var within bool
	var trip *rules.Trip
	var rtBuf rules.Trip
	var prog geofence.Check
	switch {
	case !newer && p.TS.Before(st.LastTS):
		sp.Flags = append(sp.Flags, tracking.FlagOutOfOrder)
	case !newer:
		out.Duplicate = true
		sp = nil
	default:
		if !st.LastTS.IsZero() && !plausible(Ref{st.LastTS, st.LastLat, st.LastLon}, &p) {
			if s := st.Suspect; s != nil && p.TS.After(s.TS) && plausible(*s, &p) {
				st.Suspect = nil // p agrees with the fix before it, not with the reference: the reference was the outlier
			} else {
				sp.Flags = append(sp.Flags, tracking.FlagImplausibleJump)
				in.Fix.Implausible = true
				st.Suspect = &Ref{TS: p.TS, Lat: p.Lat, Lon: p.Lon}
			}
		} else {
			st.Suspect = nil
		}
		if !in.Fix.Implausible {
			if t := w.ActiveTrip(veh.ID, p.TS); t != nil {
				if w.ruleTrip(t, &rtBuf) {
					rt := &rtBuf
					if chk, ok := w.Index.CheckProgress(t.CorridorID, p.Lon, p.Lat, st.Hint); ok {
						st.Hint = chk.Seg
						d := chk.DistanceM
						dist, within, trip, prog = &d, chk.Within, rt, chk
						in.Trip, in.DistanceM = rt, d
					}
				}
			}
			var zbuf [8]*geofence.Zone
			for _, z := range w.Index.ZonesAt(p.Lon, p.Lat, zbuf[:0]) {
				hit := rules.ZoneHit{ID: z.ID, Kind: z.Kind}
				if zm := w.Zones[z.ID]; zm != nil {
					hit.ActiveHours = zm.ActiveHours
				}
				in.Zones = append(in.Zones, hit)
			}
		}
	}
	out.Position = sp
	st.Rules, out.Changes = rules.Evaluate(c.cfg, st.Rules, in)
	if newer && !in.Fix.Implausible {
		st.LastTS, st.LastLat, st.LastLon = p.TS, p.Lat, p.Lon
		l := &tracking.VehicleState{VehicleID: veh.ID, CarrierID: veh.CarrierID, Plate: veh.Plate, TS: p.TS.UTC(), Lat: p.Lat, Lon: p.Lon,
			SpeedKmh: p.SpeedKmh, HeadingDeg: p.HeadingDeg, DistanceM: dist, UpdatedAt: received.UTC(),
			Status: LiveStatus(st.Rules.Offline(), trip, within)}
		if p.SpeedKmh != nil {
			st.AvgKmh = tracking.SmoothSpeed(st.AvgKmh, st.AvgAt, *p.SpeedKmh, p.TS, tracking.DefaultSpeedTau)
			st.AvgAt = p.TS
		}
		if trip != nil {
			l.TripID, l.CorridorID = ptr(trip.ID), ptr(trip.CorridorID)
			l.SetProgress(prog.AlongM, prog.LengthM, st.AvgKmh)
		}
		v.live, out.Live = l, l
	}
	return out
}

// Tick runs the time-driven rules at now (server clock) for the owned vehicles they can change
// at now: those whose signal_lost deadline has come on an active trip, and those whose
// route_deviation alarm's trip is over. It costs what those vehicles cost, not the fleet (see
// due.go). A vehicle whose rules fail (a bug) is skipped for this tick and reported in errs; the
// others go on.
func (c *Core) Tick(w *World, now time.Time) (outs []Outcome, errs []error) {
	if now.Before(c.from) {
		c.armed = nil // the clock stepped back: due times counted from a later instant no longer hold
	}
	c.from = now
	c.sync(w)
	key := dueKey(now)
	c.ticks = c.ticks[:0]
	for len(c.due.h) > 0 && c.due.h[0].at <= key {
		vid := c.due.h[0].id
		c.due.remove(0)
		at, due := c.nextDue(w, vid, c.vs[vid])
		if !due {
			continue
		}
		if at > key { // its entry was early: a fix moved its due time later
			c.due.set(vid, at)
			continue
		}
		c.ticks = append(c.ticks, vid)
	}
	for _, vid := range c.ticks {
		o, ok, err := c.tickOne(w, vid, now)
		if err != nil {
			errs = append(errs, err)
		} else if ok {
			outs = append(outs, o)
		}
		c.arm(vid)
	}
	if cap(c.ticks) > 1<<16 {
		c.ticks = nil // a storm's list is not kept for good
	}
	return outs, errs
}

func (c *Core) tickOne(w *World, vid string, now time.Time) (out Outcome, changed bool, err error) {
	veh, ok := w.Vehicles[vid]
	if !ok {
		return out, false, nil
	}
	rt := w.RuleTrip(w.ActiveTrip(vid, now))
	cur := c.vs[vid]
	if cur == nil && rt == nil {
		return out, false, nil
	}
	var st State
	var live *tracking.VehicleState
	if cur != nil {
		st, live = cur.st, cur.live
	} else {
		st = NewState()
	}
	defer func() {
		if r := recover(); r != nil {
			out, changed, err = Outcome{}, false, fmt.Errorf("vehicle %s: time-driven rules failed: %v", vid, r)
		}
	}()
	wasOffline := st.Rules.Offline()
	var changes []rules.Change
	st.Rules, changes = rules.Tick(c.cfg, st.Rules, now, rt)
	if len(changes) == 0 && wasOffline == st.Rules.Offline() {
		return out, false, nil
	}
	out = Outcome{Vehicle: veh, Changes: changes}
	if live != nil || !st.LastTS.IsZero() { // never seen: no position to show; its signal_lost alarm says enough
		var l tracking.VehicleState
		if live != nil {
			l = *live
		} else {
			l = tracking.VehicleState{VehicleID: vid, CarrierID: veh.CarrierID, Plate: veh.Plate,
				TS: st.LastTS.UTC(), Lat: st.LastLat, Lon: st.LastLon}
		}
		// The trip is the one active now, not the one of the last fix.
		if rt == nil {
			l.TripID, l.CorridorID, l.DistanceM = nil, nil, nil
			l.ClearProgress()
		} else if l.TripID == nil || *l.TripID != rt.ID {
			if l.CorridorID == nil || *l.CorridorID != rt.CorridorID {
				l.DistanceM = nil // measured from another corridor, or never
				l.ClearProgress()
			}
			l.TripID, l.CorridorID = ptr(rt.ID), ptr(rt.CorridorID)
		}
		within := false
		if rt != nil {
			if d, in, _, ok := w.Index.CheckCorridor(rt.CorridorID, l.Lon, l.Lat, -1); ok {
				if l.DistanceM == nil {
					l.DistanceM = &d
				}
				within = in
			}
		}
		l.Status = LiveStatus(st.Rules.Offline(), rt, within)
		l.UpdatedAt = now.UTC()
		out.Live = &l
		live = &l
	}
	v := c.mutable(vid)
	v.st, v.live = st, live
	return out, true, nil
}

func ptr[T any](v T) *T { return &v }
