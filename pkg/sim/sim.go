// Package sim simulates a fleet of hazardous-goods trucks driving their approved corridors: the
// demo fleet of `corridor serve --demo` and the telemetry of `corridor simulate`.
//
// The model is pure and deterministic: a [Sim] built from a [Fleet] and [Options] returns, for a
// clock value, the fixes every vehicle made up to then ([Sim.Step]). Each vehicle starts at its
// VehicleSpec.Start (its trip's start) and is simulated from there in fixed ticks of
// Options.Interval with a random generator seeded by (Options.Seed, vehicle id), so the fix a
// vehicle makes at a given time is the same whatever the calls that led to it, and a restarted
// simulator continues each truck where it was instead of teleporting it.
//
// Trucks shuttle between the two ends of their corridor, dwelling 25–50 minutes at terminals,
// at 30–80 km/h under the corridor's limit with noise, slower in the first and last kilometre.
// Some misbehave on purpose (see [Behaviour] and [Plan]).
//
// The package does no I/O except in [Run], [Load] and [SeedDemo], which take small interfaces.
package sim

import (
	"cmp"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Behaviour is what a simulated vehicle does wrong on purpose, named after the alarm it should
// raise. The empty Behaviour is a well-behaved truck.
type Behaviour string

// Behaviours.
const (
	Normal Behaviour = ""
	// RouteDeviation leaves the corridor on every outbound leg: about 1.5 km to one side for a
	// few km, then back onto the corridor.
	RouteDeviation Behaviour = tracking.AlarmRouteDeviation
	// Overspeed drives 14 km/h over the corridor's limit for about 5 km of every leg.
	Overspeed Behaviour = tracking.AlarmOverspeed
	// UnauthorizedStop stops for 20 minutes by the road (outside every terminal and parking
	// zone) on every outbound leg.
	UnauthorizedStop Behaviour = tracking.AlarmUnauthorizedStop
	// SignalLost sends nothing for 8 minutes every 25 minutes (from 3 minutes after its start).
	SignalLost Behaviour = tracking.AlarmSignalLost
	// RestrictedZone takes a shortcut through a restricted zone (the town centre) on every
	// outbound leg; it is off its corridor meanwhile, so it raises route_deviation too.
	RestrictedZone Behaviour = tracking.AlarmRestrictedZone
)

// Misbehaviours lists the deliberate misbehaviours in the order [Plan] assigns them.
var Misbehaviours = []Behaviour{RestrictedZone, RouteDeviation, Overspeed, UnauthorizedStop, SignalLost}

// Timings of the misbehaviours.
const (
	RoadsideStop    = 20 * time.Minute
	SilencePeriod   = 25 * time.Minute
	SilenceDuration = 8 * time.Minute
	SilenceOffset   = 3 * time.Minute
	OverspeedKmh    = 14.0 // over the limit
	DefaultLimitKmh = 80.0 // where a corridor sets none (CORRIDOR_DEFAULT_MAX_SPEED_KMH)
)

// VehicleSpec is one simulated vehicle: who it is, the corridor of its trip, when its
// simulation starts and what it does wrong.
type VehicleSpec struct {
	VehicleID  string
	CarrierID  string
	Plate      string
	TripID     string
	CorridorID string
	Line       [][2]float64 // the corridor, [lon, lat]
	BufferM    float64
	// MaxSpeedKmh is the corridor's limit; 0 means DefaultLimitKmh.
	MaxSpeedKmh float64
	// Start is when the vehicle is at its initial position (its trip's start): the simulation
	// of this vehicle is anchored there.
	Start time.Time
	// NotBefore: no fix is made at or before this time (the trip's start, or the last fix
	// already stored).
	NotBefore time.Time
	Behaviour Behaviour
	// Detour are the off-corridor waypoints driven on outbound legs between DetourFrom and
	// DetourTo metres along Line (RouteDeviation, RestrictedZone).
	Detour               [][2]float64
	DetourFrom, DetourTo float64
	// StopAt is where UnauthorizedStop stops, metres along Line.
	StopAt float64
	// TerminalAtStart/End: the line's end is in a terminal or parking zone, where the truck
	// dwells 25–50 minutes; elsewhere it turns round after 1–3 minutes.
	TerminalAtStart, TerminalAtEnd bool
	// OdometerKm is the odometer at Start; 0 draws one.
	OdometerKm float64
}

// Fleet is a set of simulated vehicles.
type Fleet struct {
	Vehicles []VehicleSpec
}

// Vehicle returns the spec of a vehicle by id.
func (f Fleet) Vehicle(id string) (VehicleSpec, bool) {
	for _, v := range f.Vehicles {
		if v.VehicleID == id {
			return v, true
		}
	}
	return VehicleSpec{}, false
}

// With returns the ids of the vehicles with behaviour b.
func (f Fleet) With(b Behaviour) []string {
	var out []string
	for _, v := range f.Vehicles {
		if v.Behaviour == b {
			out = append(out, v.VehicleID)
		}
	}
	return out
}

// Options tune the simulation. The zero value is usable: 10 s fixes, 3 m GPS noise, no device
// alarms, seed 0.
type Options struct {
	Seed uint64
	// Interval between two fixes of a vehicle (default 10 s; at least 1 s).
	Interval time.Duration
	// JitterM is the standard deviation of the GPS noise in metres (default 3; capped at 2.5σ).
	JitterM float64
	// DeviceAlarmEvery: on average one fix in DeviceAlarmEvery starts a device alarm (JT/T 808
	// alarm bit, e.g. power_low) that lasts 3 fixes; 0 disables them.
	DeviceAlarmEvery int
	// Location of the fix timestamps (default UTC+8, as Chinese terminals report).
	Location *time.Location
}

// DefaultInterval is the default time between two fixes of a vehicle.
const DefaultInterval = 10 * time.Second

var chinaTime = time.FixedZone("CST", 8*3600)

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Interval < time.Second {
		o.Interval = time.Second
	}
	if o.JitterM <= 0 {
		o.JitterM = 3
	}
	if o.Location == nil {
		o.Location = chinaTime
	}
	return o
}

var deviceAlarmNames = []string{"power_low", "gnss_antenna_open", "tyre_pressure_warning", "camera_fault"}

type leg struct {
	p        *path
	dwell    bool
	terminal bool
	outbound bool
	// detour span on this leg's path (outbound only), metres
	detFrom, detTo float64
}

// vehicle is the running state of one simulated truck.
type vehicle struct {
	spec   *VehicleSpec
	rng    *rand.Rand
	legs   [4]leg // dwell at start, outbound, dwell at end, inbound
	leg    int
	limit  float64
	line   float64 // corridor length, m
	next   time.Time
	dt     float64
	s      float64
	hint   int
	left   float64 // seconds left of a dwell or roadside stop
	road   bool    // in a roadside stop
	done   bool    // roadside stop of this leg done
	v      float64 // km/h
	cruise float64
	noise  float64
	pos    lonLat
	head   float64
	odo    float64
	still  float64 // seconds since the truck stopped
	sats   float64
	// per-tick draws, made whether or not the fix is emitted (determinism across NotBefore)
	jE, jN, vNoise float64
	alarm          string
	alarmLeft      int
}

// Sim is a running simulation of a fleet. It is not safe for concurrent use.
type Sim struct {
	opts Options
	vs   []*vehicle
}

// NewSim prepares the simulation of fleet: every vehicle at its initial position at its Start.
func NewSim(fleet Fleet, opts Options) *Sim {
	opts = opts.withDefaults()
	s := &Sim{opts: opts}
	for i := range fleet.Vehicles {
		spec := fleet.Vehicles[i] // copy: the caller may reuse its slice
		if len(spec.Line) < 2 {
			continue
		}
		s.vs = append(s.vs, newVehicle(&spec, opts))
	}
	return s
}

func seedOf(seed uint64, id string) (uint64, uint64) {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return seed, h.Sum64()
}

func newVehicle(spec *VehicleSpec, o Options) *vehicle {
	a, b := seedOf(o.Seed, spec.VehicleID)
	v := &vehicle{spec: spec, rng: rand.New(rand.NewPCG(a, b)), dt: o.Interval.Seconds()}
	v.limit = spec.MaxSpeedKmh
	if v.limit <= 0 {
		v.limit = DefaultLimitKmh
	}
	line := spec.Line
	base := newPath(line)
	v.line = base.length()
	out := base
	var detFrom, detTo float64
	if len(spec.Detour) > 0 && spec.DetourTo > spec.DetourFrom {
		pts := base.slice(0, spec.DetourFrom)
		pts = append(pts, spec.Detour...)
		pts = append(pts, base.slice(spec.DetourTo, v.line)...)
		out = newPath(pts)
		detFrom = spec.DetourFrom
		detTo = out.length() - (v.line - spec.DetourTo)
	}
	v.legs = [4]leg{
		{dwell: true, terminal: spec.TerminalAtStart, p: base},
		{p: out, outbound: true, detFrom: detFrom, detTo: detTo},
		{dwell: true, terminal: spec.TerminalAtEnd, p: base},
		{p: newPath(reversed(line))},
	}
	v.odo = spec.OdometerKm
	if v.odo <= 0 {
		v.odo = 20000 + v.rng.Float64()*380000
	}
	v.sats = 9 + float64(v.rng.IntN(6))
	// Initial placement: misbehaving trucks start a little before their act, so that it shows
	// within minutes of the start; the others anywhere on their round.
	startOn := func(s float64) {
		v.leg, v.s = 1, math.Max(0, s)
		v.cruise = v.drawCruise()
		v.v = 0.9 * v.cruise
	}
	switch spec.Behaviour {
	case RouteDeviation, RestrictedZone:
		if detTo > 0 {
			startOn(detFrom - 1000)
		} else {
			startOn(0.1 * v.line)
		}
	case UnauthorizedStop:
		startOn(spec.StopAt - 1000)
	case Overspeed:
		from, _ := v.overspeedWindow(out.length())
		startOn(from - 800)
	default:
		switch r := v.rng.Float64(); {
		case r < 0.15:
			v.leg, v.left = 0, v.dwellTime(v.legs[0].terminal)*v.rng.Float64()
		case r < 0.25:
			v.leg, v.left = 2, v.dwellTime(v.legs[2].terminal)*v.rng.Float64()
		default:
			v.leg = 1 + 2*v.rng.IntN(2)
			v.s = v.rng.Float64() * v.legs[v.leg].p.length()
			v.cruise = v.drawCruise()
			v.v = v.cruise * 0.9
		}
	}
	if v.leg == 0 || v.leg == 2 {
		v.still = 600
	}
	l := &v.legs[v.leg]
	if l.dwell {
		if v.leg == 0 {
			v.pos = line[0]
		} else {
			v.pos = line[len(line)-1]
		}
		v.head = bearing(line[0], line[1])
	} else {
		v.s = math.Min(v.s, l.p.length())
		v.pos, v.hint = l.p.at(v.s, 0)
		ahead, _ := l.p.at(v.s+20, v.hint)
		v.head = bearing(v.pos, ahead)
	}
	phase := time.Duration(v.rng.Int64N(int64(o.Interval/time.Second)+1)) * time.Second
	v.next = spec.Start.Truncate(time.Second).Add(phase)
	return v
}

func (v *vehicle) drawCruise() float64 {
	// 3–15 km/h under the limit, never above 80 (hazmat trucks), at least 30.
	c := math.Min(v.limit, 80) - 3 - 12*v.rng.Float64()
	return math.Max(c, 30)
}

// dwellTime is how long a truck stays at a corridor end, in seconds.
func (v *vehicle) dwellTime(terminal bool) float64 {
	if terminal {
		return (25 + 25*v.rng.Float64()) * 60
	}
	return (1 + 2*v.rng.Float64()) * 60
}

func (v *vehicle) overspeedWindow(length float64) (from, to float64) {
	from = 0.2 * length
	return from, from + math.Min(5000, 0.5*length)
}

// tick advances the truck by dt seconds and draws this tick's noise.
func (v *vehicle) tick() {
	dt := v.dt
	r := v.rng
	// Draws made on every tick, in a fixed order.
	v.jE, v.jN, v.vNoise = r.NormFloat64(), r.NormFloat64(), r.NormFloat64()
	v.noise = clamp(v.noise*0.9+r.NormFloat64()*0.8, -5, 5)
	v.sats = clamp(v.sats+float64(r.IntN(3)-1), 7, 18)
	if v.alarmLeft > 0 {
		v.alarmLeft--
		if v.alarmLeft == 0 {
			v.alarm = ""
		}
	}
	l := &v.legs[v.leg]
	if l.dwell || v.road {
		v.v = 0
		v.still += dt
		v.left -= dt
		if v.left <= 0 {
			if v.road {
				v.road, v.done = false, true
			} else {
				v.nextLeg()
			}
		}
		return
	}
	length := l.p.length()
	target := math.Min(v.cruise+v.noise, v.limit-1.5)
	if v.spec.Behaviour == Overspeed {
		if from, to := v.overspeedWindow(length); v.s >= from && v.s < to {
			target = v.limit + OverspeedKmh + v.noise*0.4
		}
	}
	if l.outbound && v.spec.Behaviour == RestrictedZone && v.s > l.detFrom && v.s < l.detTo {
		target = math.Min(target, 40) // town streets
	}
	ramp := math.Min(v.s, length-v.s)
	stopping := l.outbound && v.spec.Behaviour == UnauthorizedStop && !v.done && v.s < v.spec.StopAt
	if stopping {
		ramp = math.Min(ramp, v.spec.StopAt-v.s)
	}
	if ramp < 1000 {
		target = 12 + (target-12)*math.Max(ramp, 0)/1000
	}
	v0 := v.v
	v1 := clamp(target, v0-4.3*dt, v0+1.8*dt) // 1.2 m/s² braking, 0.5 m/s² accelerating
	v1 = math.Max(v1, 8)
	s1 := v.s + (v0+v1)/2/3.6*dt
	if stopping && s1 >= v.spec.StopAt {
		s1, v1 = v.spec.StopAt, 0
		v.road, v.left, v.still = true, RoadsideStop.Seconds(), 0
	}
	arrived := false
	if s1 >= length {
		s1, v1, arrived = length, 0, true
	}
	p, h := l.p.at(s1, v.hint)
	moved := haversine(v.pos, p)
	if moved > 1 {
		v.head = bearing(v.pos, p)
	}
	v.odo += moved / 1000
	v.pos, v.hint, v.s, v.v = p, h, s1, v1
	if v1 > 0 {
		v.still = 0
	}
	if arrived {
		v.nextLeg()
	}
}

func (v *vehicle) nextLeg() {
	v.leg = (v.leg + 1) % 4
	l := &v.legs[v.leg]
	v.s, v.hint, v.road, v.done = 0, 0, false, false
	if l.dwell {
		v.v, v.still = 0, 0
		v.left = v.dwellTime(l.terminal)
		return
	}
	v.cruise = v.drawCruise()
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

// round rounds x to the given number of decimals (multiplying by an exact power of ten, so that
// 45.9 stays 45.9 and does not become 45.900000000000006).
func round(x float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(x*p) / p
}

// silent reports whether the SignalLost truck is silent at t.
func (v *vehicle) silent(t time.Time) bool {
	if v.spec.Behaviour != SignalLost {
		return false
	}
	e := t.Sub(v.spec.Start) - SilenceOffset
	if e < 0 {
		return false
	}
	return e%SilencePeriod < SilenceDuration
}

// fixVals holds a fix's optional values: one allocation per fix instead of one per field.
type fixVals struct {
	speed, heading, alt, acc, sats, odo float64
	ign                                 bool
}

func (v *vehicle) fix(t time.Time, o *Options) tracking.Position {
	jit := o.JitterM
	e := clamp(v.jE, -2.5, 2.5) * jit
	n := clamp(v.jN, -2.5, 2.5) * jit
	p := offset(v.pos, e, n)
	fv := &fixVals{
		speed:   round(math.Max(0, v.v+clamp(v.vNoise, -2, 2)*0.3*boolf(v.v > 0)), 1),
		heading: math.Mod(round(v.head, 1), 360),
		alt:     round(190+35*math.Sin(v.s/4000+float64(v.leg)), 0),
		acc:     round(jit*(1+0.15*math.Abs(v.jE)), 1),
		sats:    v.sats,
		odo:     round(v.odo, 1),
		ign:     v.v > 0 || v.still < 60,
	}
	pos := tracking.Position{
		VehicleID: v.spec.VehicleID, CarrierID: v.spec.CarrierID, TS: t.In(o.Location),
		Lat: round(p[1], 6), Lon: round(p[0], 6),
		SpeedKmh: &fv.speed, HeadingDeg: &fv.heading, AltitudeM: &fv.alt, AccuracyM: &fv.acc,
		Satellites: &fv.sats, OdometerKm: &fv.odo, Ignition: &fv.ign,
	}
	if v.alarm != "" {
		pos.DeviceAlarms = []string{v.alarm}
	}
	return pos
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Step advances every vehicle to now and returns the fixes made since the previous call (those
// after each vehicle's NotBefore, not while it is silent), in time order.
func (s *Sim) Step(now time.Time) []tracking.Position {
	var out []tracking.Position
	for _, v := range s.vs {
		out = v.advance(now, &s.opts, out)
	}
	if len(out) < 2 {
		return out
	}
	// Sort by time (each vehicle's fixes keep their order): on small keys, not on the structs.
	type key struct {
		ts int64
		i  int
	}
	keys := make([]key, len(out))
	sorted := true
	for i := range out {
		keys[i] = key{out[i].TS.UnixNano(), i}
		if i > 0 && keys[i].ts < keys[i-1].ts {
			sorted = false
		}
	}
	if sorted {
		return out
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.ts != b.ts {
			return cmp.Compare(a.ts, b.ts)
		}
		return cmp.Compare(a.i, b.i)
	})
	res := make([]tracking.Position, len(out))
	for j, k := range keys {
		res[j] = out[k.i]
	}
	return res
}

func (v *vehicle) advance(now time.Time, o *Options, out []tracking.Position) []tracking.Position {
	step := o.Interval
	for !v.next.After(now) {
		t := v.next
		v.tick()
		// device alarms: drawn on every tick so that the sequence does not depend on emission
		if v.alarmLeft == 0 && o.DeviceAlarmEvery > 0 && v.rng.IntN(o.DeviceAlarmEvery) == 0 {
			v.alarm = deviceAlarmNames[v.rng.IntN(len(deviceAlarmNames))]
			v.alarmLeft = 3
		}
		if t.After(v.spec.NotBefore) && !v.silent(t) {
			out = append(out, v.fix(t, o))
		}
		v.next = t.Add(step)
	}
	return out
}

// Next returns the time of the earliest fix still to come (zero without vehicles).
func (s *Sim) Next() time.Time {
	var n time.Time
	for _, v := range s.vs {
		if n.IsZero() || v.next.Before(n) {
			n = v.next
		}
	}
	return n
}

// Len is the number of simulated vehicles.
func (s *Sim) Len() int { return len(s.vs) }
