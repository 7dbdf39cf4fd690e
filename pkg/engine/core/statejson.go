package core

import (
	"time"

	"github.com/corridor-dev/corridor/internal/jsonenc"
	"github.com/corridor-dev/corridor/pkg/rules"
)

// MarshalJSON encodes the state byte for byte as encoding/json does by reflection, without
// it: the engine checkpoints every changed vehicle's state every few seconds.
func (st State) MarshalJSON() ([]byte, error) { return st.AppendJSON(make([]byte, 0, 640)) }

// AppendJSON appends the JSON of st (see MarshalJSON).
func (st *State) AppendJSON(b []byte) ([]byte, error) {
	w := jw{b: b}
	w.open()
	w.key("rules")
	w.rules(&st.Rules)
	w.time("last_ts", st.LastTS, false)
	w.float("last_lat", st.LastLat, false)
	w.float("last_lon", st.LastLon, false)
	w.int("hint", int64(st.Hint), false)
	if st.Suspect != nil {
		w.key("suspect")
		w.open()
		w.time("ts", st.Suspect.TS, false)
		w.float("lat", st.Suspect.Lat, false)
		w.float("lon", st.Suspect.Lon, false)
		w.close()
	}
	w.float("avg_kmh", st.AvgKmh, true)
	w.time("avg_at", st.AvgAt, true)
	w.close()
	return w.b, w.err
}

func (w *jw) rules(r *rules.State) {
	w.open()
	w.time("last_ts", r.LastFixTS, true)
	w.time("last_seen", r.LastSeen, true)
	w.float("lat", r.Lat, true)
	w.float("lon", r.Lon, true)
	if r.HasPos {
		w.key("has_pos")
		w.b = append(w.b, "true"...)
	}
	w.str("ended_trip", r.EndedTrip, true)
	if len(r.Alarms) > 0 {
		w.key("alarms")
		w.b = append(w.b, '[')
		for i := range r.Alarms {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			a := &r.Alarms[i]
			w.open()
			w.str("kind", a.Kind, false)
			w.str("key", a.Key, true)
			w.str("trip_id", a.TripID, true)
			w.str("corridor_id", a.CorridorID, true)
			w.time("trip_starts_at", a.TripStartsAt, true)
			w.time("trip_ends_at", a.TripEndsAt, true)
			w.time("started_at", a.StartedAt, false)
			w.time("raised_at", a.RaisedAt, false)
			w.int("compliant", int64(a.Compliant), true)
			w.close()
		}
		w.b = append(w.b, ']')
	}
	w.episode("deviation", &r.Deviation)
	w.episode("overspeed", &r.Overspeed)
	w.episode("stop", &r.Stop)
	if r.Fatigue != (rules.FatigueState{}) {
		w.key("fatigue")
		w.open()
		w.time("drive_since", r.Fatigue.DriveSince, true)
		w.time("rest_since", r.Fatigue.RestSince, true)
		w.close()
	}
	w.close()
}

func (w *jw) episode(name string, e *rules.Episode) {
	if *e == (rules.Episode{}) { // omitzero on a struct without IsZero: every field zero
		return
	}
	w.key(name)
	w.open()
	w.str("trip_id", e.TripID, true)
	w.time("trip_start", e.TripStart, true)
	w.int("n", int64(e.Count), true)
	w.time("since", e.Since, true)
	w.float("max_kmh", e.MaxKmh, true)
	w.close()
}

// jw writes one JSON object's members; omit drops a member as omitempty (strings, numbers) or
// omitzero (times) would. The first error sticks.
type jw struct {
	b     []byte
	err   error
	first bool // the next member is the object's first
}

func (w *jw) open()  { w.b, w.first = append(w.b, '{'), true }
func (w *jw) close() { w.b, w.first = append(w.b, '}'), false }

func (w *jw) key(k string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

func (w *jw) str(k, v string, omit bool) {
	if omit && v == "" {
		return
	}
	w.key(k)
	w.b = jsonenc.String(w.b, v)
}

func (w *jw) int(k string, v int64, omit bool) {
	if omit && v == 0 {
		return
	}
	w.key(k)
	w.b = jsonenc.Int(w.b, v)
}

func (w *jw) float(k string, v float64, omit bool) {
	if omit && v == 0 || w.err != nil {
		return
	}
	w.key(k)
	w.b, w.err = jsonenc.Float(w.b, v)
}

func (w *jw) time(k string, v time.Time, omit bool) {
	if omit && v.IsZero() || w.err != nil {
		return
	}
	w.key(k)
	w.b, w.err = jsonenc.Time(w.b, v)
}
