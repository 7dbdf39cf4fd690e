package core

import (
	"math"
	"sort"
	"time"

	"github.com/corridor-dev/corridor/pkg/rules"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// The time-driven rules change a vehicle only at instants that follow from its state and its
// trips: the signal_lost deadline (rules.State.OfflineDue) while a trip is active, and the end of
// the trip a route_deviation alarm belongs to. The core keeps, per owned vehicle, the first such
// instant at or after the last tick (its due time) in a min-heap, so that Tick costs what the
// vehicles due at that instant cost, not the fleet.
//
// Due times are re-armed when a vehicle's state changes (Apply, Tick, Rollback) and rebuilt for
// every vehicle when the world, the owner or the restored states change, or the clock steps back.

// schedule is a min-heap of vehicles by due time, with each vehicle's place in it.
type schedule struct {
	h   []dueEntry
	pos map[string]int32
}

type dueEntry struct {
	at int64 // due time, Unix nanoseconds (clamped)
	id string
}

func dueKey(t time.Time) int64 {
	switch {
	case t.Before(minDue):
		return math.MinInt64
	case t.After(maxDue):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minDue = time.Unix(0, math.MinInt64)
	maxDue = time.Unix(0, math.MaxInt64)
)

func (s *schedule) reset(n int) {
	s.h = s.h[:0]
	if s.pos == nil || n == 0 {
		s.pos = make(map[string]int32, n)
	} else {
		clear(s.pos)
	}
}

func (s *schedule) less(i, j int) bool { return s.h[i].at < s.h[j].at }

func (s *schedule) swap(i, j int) {
	s.h[i], s.h[j] = s.h[j], s.h[i]
	s.pos[s.h[i].id] = int32(i)
	s.pos[s.h[j].id] = int32(j)
}

func (s *schedule) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			return
		}
		s.swap(i, p)
		i = p
	}
}

func (s *schedule) down(i int) {
	n := len(s.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && s.less(r, l) {
			m = r
		}
		if !s.less(m, i) {
			return
		}
		s.swap(i, m)
		i = m
	}
}

// set makes sure vehicle id is in the schedule at or before at. An entry may be earlier than
// the vehicle's due time (it was due earlier before its last fix): Tick recomputes a popped
// vehicle's due time before running its rules, so a fix (which mostly moves the due time later)
// costs a map lookup, not a heap update.
func (s *schedule) set(id string, at int64) {
	if i, in := s.pos[id]; in {
		if at < s.h[i].at {
			s.h[i].at = at
			s.up(int(i))
		}
		return
	}
	s.h = append(s.h, dueEntry{at: at, id: id})
	s.pos[id] = int32(len(s.h) - 1)
	s.up(len(s.h) - 1)
}

func (s *schedule) remove(i int) {
	last := len(s.h) - 1
	delete(s.pos, s.h[i].id)
	if i != last {
		s.h[i] = s.h[last]
		s.pos[s.h[i].id] = int32(i)
	}
	s.h[last] = dueEntry{}
	s.h = s.h[:last]
	if i < len(s.h) {
		s.down(i)
		s.up(i)
	}
}

// heapify orders entries appended without order (a rebuild: O(n) instead of n pushes).
func (s *schedule) heapify() {
	for i, e := range s.h {
		s.pos[e.id] = int32(i)
	}
	for i := len(s.h)/2 - 1; i >= 0; i-- {
		s.down(i)
	}
}

// sync makes the schedule reflect world w: a new world, owner or restored states (armed nil)
// re-arm every vehicle from c.from.
func (c *Core) sync(w *World) {
	if w == c.armed {
		return
	}
	c.armed = w
	n := len(c.vs) + len(w.Trips)
	c.due.reset(n)
	add := func(id string) {
		if _, done := c.due.pos[id]; done {
			return
		}
		if at, ok := c.nextDue(w, id, c.vs[id]); ok {
			c.due.h = append(c.due.h, dueEntry{at: at, id: id})
			c.due.pos[id] = -1 // placed by heapify
		}
	}
	for id := range c.vs {
		add(id)
	}
	for id := range w.Trips {
		add(id)
	}
	c.due.heapify()
}

// arm recomputes vehicle id's due time after its state changed.
func (c *Core) arm(id string) {
	if c.armed == nil {
		return // rebuilt at the next Apply or Tick
	}
	if at, ok := c.nextDue(c.armed, id, c.vs[id]); ok {
		c.due.set(id, at)
	} // else: an entry it may have is dropped when it comes up
}

// nextDue is the first instant at or after c.from at which Tick would change vehicle id (v nil:
// never seen); ok is false when none will under world w (not owned, unknown, no trip ahead and
// no alarm that a tick clears).
func (c *Core) nextDue(w *World, id string, v *vehicle) (int64, bool) {
	if c.owns != nil && !c.owns(id) {
		return 0, false
	}
	if _, ok := w.Vehicles[id]; !ok {
		return 0, false
	}
	var st *rules.State
	if v != nil {
		st = &v.st.Rules
	} else {
		st = &noRules
	}
	var devStart time.Time // the route_deviation alarm's trip start, when one is active
	hasDev := false
	for i := range st.Alarms {
		if st.Alarms[i].Kind == tracking.AlarmRouteDeviation {
			devStart, hasDev = st.Alarms[i].TripStartsAt, true
			break
		}
	}
	trips := w.Trips[id]
	if !hasDev && len(trips) == 0 {
		return 0, false
	}
	from := c.from
	// Segments of time with one active trip (or none), in the order of time, from the one holding
	// `from`: as World.ActiveTrip sees them, the trip active at t is the last one starting at or
	// before t, while t is before its end.
	k := sort.Search(len(trips), func(i int) bool { return trips[i].StartsAt.After(from) }) - 1
	var rt rules.Trip
	var cand [3]time.Time
	for ; k < len(trips); k++ {
		// Segment of trip k (none for k = -1), then the gap after it up to trip k+1.
		var lo, hi time.Time
		var next *tracking.Trip
		if k+1 < len(trips) {
			next = &trips[k+1]
		}
		for part := 0; part < 2; part++ {
			trip := (*rules.Trip)(nil)
			if part == 0 {
				if k < 0 {
					continue
				}
				t := &trips[k]
				lo, hi = t.StartsAt, t.EndsAt
				if next != nil && next.StartsAt.Before(hi) {
					hi = next.StartsAt
				}
				if t.CancelledAt == nil && w.ruleTrip(t, &rt) {
					trip = &rt
				}
			} else {
				if k >= 0 {
					lo = trips[k].EndsAt
					if next != nil && next.StartsAt.Before(lo) {
						lo = next.StartsAt
					}
				} else {
					lo = time.Time{}
				}
				hi = time.Time{}
				if next != nil {
					hi = next.StartsAt
				}
			}
			if lo.Before(from) {
				lo = from
			}
			last := next == nil && part == 1 // [lo, ∞)
			if !last && !lo.Before(hi) {
				continue
			}
			// Within a segment each condition of rules.Tick is false before its threshold and
			// true from it on: the first candidate at which rules say so is the due time.
			n := 0
			cand[n], n = lo, n+1
			if hasDev && devStart.After(lo) {
				cand[n], n = devStart, n+1
			}
			if d, ok := st.OfflineDue(c.cfg, trip); ok && d.After(lo) {
				cand[n], n = d, n+1
			}
			sortTimes(cand[:n])
			for _, t := range cand[:n] {
				if !last && !t.Before(hi) {
					break
				}
				if st.TickChanges(c.cfg, t, trip) {
					return dueKey(t), true
				}
			}
		}
	}
	return 0, false
}

var noRules = NewState().Rules

func sortTimes(ts []time.Time) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j].Before(ts[j-1]); j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}
