package sim

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"slices"

	"github.com/twpayne/go-geom"

	"github.com/corridor-dev/corridor/pkg/geo"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// area is a zone as the planner sees it.
type area struct {
	name  string
	kind  string
	hours bool
	polys [][][]float64
	box   geo.Box
}

func areasOf(zones []tracking.Zone) []area {
	var out []area
	for _, z := range zones {
		a := area{name: z.Name, kind: z.Kind, hours: z.ActiveHours != nil}
		switch g := z.Area.(type) {
		case *geom.Polygon:
			a.polys = append(a.polys, rings(g))
		case *geom.MultiPolygon:
			for i := 0; i < g.NumPolygons(); i++ {
				a.polys = append(a.polys, rings(g.Polygon(i)))
			}
		}
		if len(a.polys) == 0 {
			continue
		}
		a.box = geo.RingsBox(a.polys[0])
		for _, p := range a.polys[1:] {
			b := geo.RingsBox(p)
			a.box = geo.Box{MinLon: math.Min(a.box.MinLon, b.MinLon), MinLat: math.Min(a.box.MinLat, b.MinLat),
				MaxLon: math.Max(a.box.MaxLon, b.MaxLon), MaxLat: math.Max(a.box.MaxLat, b.MaxLat)}
		}
		out = append(out, a)
	}
	return out
}

func rings(p *geom.Polygon) [][]float64 {
	var out [][]float64
	for i := 0; i < p.NumLinearRings(); i++ {
		out = append(out, p.LinearRing(i).FlatCoords())
	}
	return out
}

func (a *area) covers(p lonLat) bool { return geo.MultiPolygonCovers(a.polys, p[0], p[1]) }

func inKind(areas []area, p lonLat, kinds ...string) bool {
	for i := range areas {
		if slices.Contains(kinds, areas[i].kind) && areas[i].covers(p) {
			return true
		}
	}
	return false
}

func flat(line [][2]float64) []float64 {
	out := make([]float64, 0, 2*len(line))
	for _, p := range line {
		out = append(out, p[0], p[1])
	}
	return out
}

// Plan returns fleet with the terminal flags of every vehicle set from zones and, when
// misbehave is true, the deliberate misbehaviours assigned and laid out: deterministically by
// seed, one vehicle per behaviour of [Misbehaviours] (where some vehicle's corridor allows it),
// and never more than half of the vehicles.
//
//   - RestrictedZone: a vehicle whose corridor passes within 6 km of a restricted zone (one with
//     active hours first, such as a town centre) detours through the zone's centre.
//   - RouteDeviation: a corridor of at least 6 km; the detour runs 1.5 km to one side of a 2 km
//     stretch, on the side that stays out of restricted zones and away from the corridor.
//   - Overspeed: a corridor of at least 8 km. UnauthorizedStop: a stop point outside every zone.
//   - SignalLost: any vehicle.
func Plan(fleet Fleet, zones []tracking.Zone, seed uint64, misbehave bool) Fleet {
	areas := areasOf(zones)
	out := Fleet{Vehicles: slices.Clone(fleet.Vehicles)}
	vs := out.Vehicles
	for i := range vs {
		v := &vs[i]
		v.Behaviour, v.Detour, v.DetourFrom, v.DetourTo, v.StopAt = Normal, nil, 0, 0, 0
		if len(v.Line) >= 2 {
			v.TerminalAtStart = inKind(areas, v.Line[0], tracking.ZoneTerminal, tracking.ZoneParking)
			v.TerminalAtEnd = inKind(areas, v.Line[len(v.Line)-1], tracking.ZoneTerminal, tracking.ZoneParking)
		}
	}
	if !misbehave {
		return out
	}
	order := make([]int, len(vs))
	keys := make([]uint64, len(vs))
	for i := range vs {
		order[i] = i
		h := fnv.New64a()
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], seed)
		_, _ = h.Write(b[:])
		_, _ = h.Write([]byte(vs[i].VehicleID))
		keys[i] = mix(h.Sum64())
	}
	slices.SortFunc(order, func(a, b int) int {
		switch {
		case keys[a] < keys[b]:
			return -1
		case keys[a] > keys[b]:
			return 1
		}
		return 0
	})
	budget := len(vs) / 2
	for _, b := range Misbehaviours {
		if budget == 0 {
			break
		}
		// restricted_zone: a zone with active hours (a town centre) first, whoever drives by it
		passes := []int{0}
		if b == RestrictedZone {
			passes = []int{1, 2}
		}
	next:
		for _, pass := range passes {
			for _, i := range order {
				v := &vs[i]
				if v.Behaviour != Normal || len(v.Line) < 2 {
					continue
				}
				if layout(v, b, areas, pass) {
					v.Behaviour = b
					budget--
					break next
				}
			}
		}
	}
	return out
}

// mix is splitmix64's finaliser: similar ids get unrelated ranks.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// layout sets up behaviour b on v; false when v's corridor does not allow it.
// For RestrictedZone, pass 1 looks only at zones with active hours, pass 2 only at the others.
func layout(v *VehicleSpec, b Behaviour, areas []area, pass int) bool {
	p := newPath(v.Line)
	L := p.length()
	switch b {
	case RestrictedZone:
		for _, wantHours := range []bool{pass == 1} {
			for i := range areas {
				a := &areas[i]
				if a.kind != tracking.ZoneRestricted || a.hours != wantHours {
					continue
				}
				c := lonLat{(a.box.MinLon + a.box.MaxLon) / 2, (a.box.MinLat + a.box.MaxLat) / 2}
				if !a.covers(c) {
					continue
				}
				sc, d := p.nearest(c, 100)
				if d > 6000 || L < 5000 {
					continue
				}
				d1 := clamp(sc-1500, 1000, L-2000)
				d2 := clamp(sc+1500, d1+1000, L-1000)
				v.Detour, v.DetourFrom, v.DetourTo = [][2]float64{c}, d1, d2
				return true
			}
		}
	case RouteDeviation:
		if L < 6000 {
			return false
		}
		line := flat(v.Line)
		for _, f := range []float64{0.45, 0.35, 0.55, 0.3, 0.6, 0.25} {
			d1 := f * L
			d2 := d1 + 2000
			if d2 > L-1500 {
				continue
			}
			from, _ := p.at(d1, 0)
			to, _ := p.at(d2, 0)
			a1, _ := p.at(d1+600, 0)
			a2, _ := p.at(d1+1400, 0)
			th := bearing(from, to) * rad
			for _, side := range []float64{1, -1} {
				e, n := side*math.Cos(th)*1500, -side*math.Sin(th)*1500 // perpendicular
				q1, q2 := offset(a1, e, n), offset(a2, e, n)
				ok := true
				for _, q := range []lonLat{q1, q2, mid(from, q1), mid(q1, q2), mid(q2, to)} {
					if inKind(areas, q, tracking.ZoneRestricted) {
						ok = false
					}
				}
				for _, q := range []lonLat{q1, q2, mid(q1, q2)} {
					if geo.DistanceToLine(line, q[0], q[1]) < v.BufferM+800 {
						ok = false
					}
				}
				if ok {
					v.Detour, v.DetourFrom, v.DetourTo = [][2]float64{q1, q2}, d1, d2
					return true
				}
			}
		}
	case Overspeed:
		return L >= 8000
	case UnauthorizedStop:
		if L < 5000 {
			return false
		}
		for _, f := range []float64{0.4, 0.5, 0.3, 0.6, 0.7} {
			q, _ := p.at(f*L, 0)
			if !inKind(areas, q, tracking.ZoneTerminal, tracking.ZoneParking, tracking.ZoneRestricted) {
				v.StopAt = f * L
				return true
			}
		}
	case SignalLost:
		return true
	}
	return false
}

func mid(a, b lonLat) lonLat { return lonLat{(a[0] + b[0]) / 2, (a[1] + b[1]) / 2} }
