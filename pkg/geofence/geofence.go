// Package geofence is Corridor's in-memory spatial index of corridors and zones: which corridor
// buffers and which zones contain a fix, and how far a fix is from a given corridor, with the
// answers PostGIS would give (see package geo).
//
// An [Index] is an immutable snapshot built by [NewIndex]; readers share it without locks, and a
// [Store] swaps in a new snapshot atomically when corridors or zones change. Queries allocate
// nothing beyond what they append to the caller's slice.
//
// Corridors are indexed by runs of geo.ChunkSegments consecutive edges: each run's lon/lat box
// (great-circle bulge included) padded by the corridor's buffer goes into an R-tree, so a fix only
// touches the edges whose buffer can reach it. The distance to one given corridor is searched
// with the corridor's own tree of spherical caps, starting from the edge matched last time.
package geofence

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tidwall/rtree"

	"github.com/corridor-dev/corridor/pkg/geo"
)

// Corridor is a route with a buffer either side.
type Corridor struct {
	ID string
	// Coords is the route as flat lon,lat pairs (degrees, WGS84), as stored in PostGIS.
	Coords []float64
	// BufferM is the half-width of the corridor in metres: a fix within BufferM is on the route.
	BufferM float64
	// MaxSpeedKmh is the corridor's speed limit; 0 means none.
	MaxSpeedKmh float64
}

// Zone is a (multi)polygon area.
type Zone struct {
	ID   string
	Kind string
	// Polygons: polygon -> rings (ring 0 the outer boundary, the rest holes) -> closed flat
	// lon,lat pairs.
	Polygons [][][]float64
}

// CorridorHit is a corridor whose buffer contains a fix, with the fix's distance from it.
type CorridorHit struct {
	ID        string
	DistanceM float64
}

type corridor struct {
	c    Corridor
	line *geo.Line
}

// Index is an immutable snapshot of all corridors and zones. Its methods are safe for concurrent
// use. It keeps the coordinate slices it was built from: do not modify them afterwards.
type Index struct {
	corridors []corridor
	byID      map[string]int32
	zones     []Zone
	zoneByID  map[string]int32
	ctree     rtree.RTreeG[uint64] // corridor index << 32 | chunk
	ztree     rtree.RTreeG[uint64] // zone index << 32 | polygon
	pool      sync.Pool            // *searcher
}

// NewIndex builds a snapshot. A later corridor or zone with the same ID replaces an earlier one.
func NewIndex(corridors []Corridor, zones []Zone) *Index {
	ix := &Index{
		corridors: make([]corridor, 0, len(corridors)),
		byID:      make(map[string]int32, len(corridors)),
		zones:     make([]Zone, 0, len(zones)),
		zoneByID:  make(map[string]int32, len(zones)),
	}
	for _, c := range corridors {
		if i, ok := ix.byID[c.ID]; ok {
			ix.corridors[i] = corridor{c: c, line: geo.NewLine(c.Coords)}
			continue
		}
		ix.byID[c.ID] = int32(len(ix.corridors))
		ix.corridors = append(ix.corridors, corridor{c: c, line: geo.NewLine(c.Coords)})
	}
	for ci := range ix.corridors {
		e := &ix.corridors[ci]
		pad := searchPad(e.c.BufferM)
		for ch := 0; ch < e.line.Chunks(); ch++ {
			boxes, n := e.line.ChunkBox(ch).Pad(pad).Split()
			for _, b := range boxes[:n] {
				if !finite(b) {
					continue // invalid coordinates: CheckCorridor still answers (NaN), searches skip it
				}
				ix.ctree.Insert([2]float64{b.MinLon, b.MinLat}, [2]float64{b.MaxLon, b.MaxLat}, uint64(ci)<<32|uint64(ch))
			}
		}
	}
	for _, z := range zones {
		if i, ok := ix.zoneByID[z.ID]; ok {
			ix.zones[i] = z
			continue
		}
		ix.zoneByID[z.ID] = int32(len(ix.zones))
		ix.zones = append(ix.zones, z)
	}
	for zi := range ix.zones {
		for pi, p := range ix.zones[zi].Polygons {
			b := geo.RingsBox(p)
			if !(b.MinLon <= b.MaxLon) || !finite(b) {
				continue // no vertices, or invalid ones
			}
			ix.ztree.Insert([2]float64{b.MinLon, b.MinLat}, [2]float64{b.MaxLon, b.MaxLat}, uint64(zi)<<32|uint64(pi))
		}
	}
	ix.pool.New = func() any { return newSearcher(ix) }
	return ix
}

// searchPad is how far around a chunk the R-tree box reaches for a corridor with this buffer.
// PostGIS picks the nearest point by spherical distance and then measures it on the ellipsoid,
// and the ellipsoid's radius of curvature is 0.56 % below to 0.45 % above the sphere's: when some
// point of the corridor is within the buffer, the spherically nearest one is within 1.0102 times
// the buffer. Padding by that much makes sure CorridorsAt sees the edge PostGIS measures to.
func searchPad(bufferM float64) float64 { return bufferM*1.0102 + 1 }

func finite(b geo.Box) bool {
	for _, v := range [4]float64{b.MinLon, b.MinLat, b.MaxLon, b.MaxLat} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// Len returns the number of corridors and zones.
func (ix *Index) Len() (corridors, zones int) { return len(ix.corridors), len(ix.zones) }

// Corridor returns the corridor with the given ID.
func (ix *Index) Corridor(id string) (*Corridor, bool) {
	i, ok := ix.byID[id]
	if !ok {
		return nil, false
	}
	return &ix.corridors[i].c, true
}

// Zone returns the zone with the given ID.
func (ix *Index) Zone(id string) (*Zone, bool) {
	i, ok := ix.zoneByID[id]
	if !ok {
		return nil, false
	}
	return &ix.zones[i], true
}

// CheckCorridor returns the distance in metres from lon, lat to corridor id (as PostGIS
// ST_Distance(corridor::geography, point::geography), to well under a centimetre) and whether it is
// within the corridor's buffer (distance <= BufferM, decided with Karney's geodesic near the
// buffer's edge). hint is the edge matched for the vehicle's previous fix (-1 if none); seg is the
// edge matched now, to pass as the next hint. The hint only speeds the search up: the answer is
// the same with any hint. ok is false if there is no such corridor.
func (ix *Index) CheckCorridor(id string, lon, lat float64, hint int) (dist float64, within bool, seg int, ok bool) {
	i, found := ix.byID[id]
	if !found {
		return 0, false, -1, false
	}
	e := &ix.corridors[i]
	q := geo.NewPoint(lon, lat)
	var n geo.Nearest
	e.line.Search(&q, hint, &n)
	dist, within = e.line.Within(&q, &n, e.c.BufferM)
	return dist, within, n.Seg, true
}

// searcher holds the scratch state of one CorridorsAt or ZonesAt call; pooled so that the
// R-tree callback (a closure bound once) costs no allocation per call.
type searcher struct {
	ix    *Index
	q     geo.Point
	slots []slot
	zdst  []*Zone
	zfrom int
	cfn   func(min, max [2]float64, data uint64) bool
	zfn   func(min, max [2]float64, data uint64) bool
}

type slot struct {
	ci   int32
	best geo.Nearest
}

func newSearcher(ix *Index) *searcher {
	s := &searcher{ix: ix, slots: make([]slot, 0, 8)}
	s.cfn = s.corridorChunk
	s.zfn = s.zonePolygon
	return s
}

func (s *searcher) corridorChunk(_, _ [2]float64, data uint64) bool {
	ci, ch := int32(data>>32), int(uint32(data))
	k := -1
	for j := range s.slots {
		if s.slots[j].ci == ci {
			k = j
			break
		}
	}
	if k < 0 {
		s.slots = append(s.slots, slot{ci: ci})
		k = len(s.slots) - 1
		s.slots[k].best.Reset()
	}
	s.ix.corridors[ci].line.SearchChunk(&s.q, ch, &s.slots[k].best)
	return true
}

func (s *searcher) zonePolygon(_, _ [2]float64, data uint64) bool {
	zi, pi := int(data>>32), int(uint32(data))
	z := &s.ix.zones[zi]
	for _, have := range s.zdst[s.zfrom:] {
		if have == z {
			return true
		}
	}
	if geo.PolygonCovers(z.Polygons[pi], s.q.Lon, s.q.Lat) {
		s.zdst = append(s.zdst, z)
	}
	return true
}

// CorridorsAt appends to dst every corridor whose buffer contains lon, lat (distance <= BufferM),
// with the distance, in the order the corridors were given to NewIndex, and returns the slice.
func (ix *Index) CorridorsAt(lon, lat float64, dst []CorridorHit) []CorridorHit {
	if len(ix.corridors) == 0 {
		return dst
	}
	s := ix.pool.Get().(*searcher)
	s.q = geo.NewPoint(lon, lat)
	s.slots = s.slots[:0]
	ix.ctree.Search([2]float64{lon, lat}, [2]float64{lon, lat}, s.cfn)
	if len(s.slots) > 1 {
		slices.SortFunc(s.slots, func(a, b slot) int { return int(a.ci - b.ci) })
	}
	for j := range s.slots {
		e := &ix.corridors[s.slots[j].ci]
		if d, in := e.line.Within(&s.q, &s.slots[j].best, e.c.BufferM); in {
			dst = append(dst, CorridorHit{ID: e.c.ID, DistanceM: d})
		}
	}
	ix.pool.Put(s)
	return dst
}

// ZonesAt appends to dst every zone covering lon, lat (a point on an edge or vertex counts as
// inside), in the order the zones were given to NewIndex, and returns the slice.
func (ix *Index) ZonesAt(lon, lat float64, dst []*Zone) []*Zone {
	if len(ix.zones) == 0 {
		return dst
	}
	s := ix.pool.Get().(*searcher)
	s.q.Lon, s.q.Lat = lon, lat
	s.zdst, s.zfrom = dst, len(dst)
	ix.ztree.Search([2]float64{lon, lat}, [2]float64{lon, lat}, s.zfn)
	dst = s.zdst
	if len(dst)-s.zfrom > 1 {
		slices.SortFunc(dst[s.zfrom:], func(a, b *Zone) int { return int(ix.zoneByID[a.ID] - ix.zoneByID[b.ID]) })
	}
	s.zdst = nil
	ix.pool.Put(s)
	return dst
}

var emptyIndex = NewIndex(nil, nil)

// Empty returns an index with no corridors and no zones.
func Empty() *Index { return emptyIndex }

// Store holds the current snapshot; Load and Store are lock-free and safe for concurrent use.
// The zero Store holds the empty index.
type Store struct {
	p atomic.Pointer[Index]
}

// Load returns the current snapshot, never nil.
func (s *Store) Load() *Index {
	if ix := s.p.Load(); ix != nil {
		return ix
	}
	return emptyIndex
}

// Store makes ix the current snapshot (nil stores the empty index).
func (s *Store) Store(ix *Index) {
	if ix == nil {
		ix = emptyIndex
	}
	s.p.Store(ix)
}
