package rules

import (
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Trip is the vehicle's trip as the rules see it: the corridor's buffer and speed limit and the
// trip's time window [StartsAt, EndsAt).
type Trip struct {
	ID, CorridorID string
	BufferM        float64   // corridor buffer in metres; a distance equal to it is within
	MaxSpeedKmh    float64   // corridor speed limit; 0 means none (Config.DefaultMaxSpeedKmh applies)
	StartsAt       time.Time // first instant of the trip
	EndsAt         time.Time // first instant after the trip
}

// ZoneHit is a zone whose polygon contains the fix (edge inclusive). The rules decide, from
// ActiveHours and Config.Location, whether the zone applies at the fix's time.
type ZoneHit struct {
	ID, Kind    string                // Kind is tracking.ZoneRestricted, ZoneParking or ZoneTerminal
	ActiveHours *tracking.ActiveHours // nil: always applies
}

// Fix is the part of a position the rules use.
type Fix struct {
	TS           time.Time // fix time at the device
	Lat, Lon     float64
	SpeedKmh     *float64 // nil: the device reported no speed
	DeviceAlarms []string // JT/T 808 alarm names carried by the fix
	// Implausible marks a fix the engine stores but flags (implied jump > 250 km/h). It drives no
	// rule and changes no state.
	Implausible bool
}

// Input is one fix with everything the engine knows about it.
type Input struct {
	Fix        Fix
	ReceivedAt time.Time // server clock when the engine received the fix; zero means Fix.TS
	Trip       *Trip     // the vehicle's trip active at Fix.TS (not cancelled), nil if none
	DistanceM  float64   // metres from Trip's corridor; only meaningful when Trip != nil
	Zones      []ZoneHit // every zone containing the fix, whatever its kind and hours
}

// Change is one alarm change the engine stores and publishes.
type Change struct {
	Kind        string // tracking.Alarm*
	Event       string // tracking.EventRaised or tracking.EventCleared
	ZoneID      string // restricted_zone: the zone
	DeviceAlarm string // device_alarm: the alarm name
	// TripID and CorridorID are the trip the alarm belongs to (the trip active at the raising fix,
	// or at Tick time for signal_lost); empty without one. A cleared change repeats the raise's.
	TripID, CorridorID string
	// StartedAt is when the violation began: the first violating fix's ts (route_deviation,
	// overspeed, unauthorized_stop: first stopped fix; fatigue_driving: first moving fix of the
	// drive; restricted_zone and device_alarm: the raising fix), or for signal_lost the server
	// time of the last fix received (or the trip's start when none came since). A cleared change
	// repeats the raise's.
	StartedAt time.Time
	// At is raised_at (the confirming fix's ts; server time for signal_lost) or cleared_at (the
	// clearing fix's ts; for signal_lost the fix's ReceivedAt; for a trip's end the earlier of the
	// trip's EndsAt and the time it was observed). At is never before the raise's At.
	At       time.Time
	Lat, Lon float64 // position at At: the fix's, or for Tick changes the last known position
	// NoPosition is true when Lat/Lon carry nothing: signal_lost of a vehicle never seen.
	NoPosition bool
	DistanceM  *float64 // route_deviation raised: distance at the confirming fix; else nil
	// SpeedKmh on a raise: overspeed the highest speed of the episode up to the confirming fix;
	// other kinds the raising fix's speed (nil for signal_lost and fixes without speed). Nil on
	// clears.
	SpeedKmh *float64
}

// ActiveAlarm is an alarm currently raised for the vehicle, with what the rules keep about it.
type ActiveAlarm struct {
	Kind       string `json:"kind"`
	Key        string `json:"key,omitempty"` // zone id (restricted_zone) or alarm name (device_alarm)
	TripID     string `json:"trip_id,omitempty"`
	CorridorID string `json:"corridor_id,omitempty"`
	// TripStartsAt and TripEndsAt are route_deviation's trip window.
	TripStartsAt time.Time `json:"trip_starts_at,omitzero"`
	TripEndsAt   time.Time `json:"trip_ends_at,omitzero"`
	StartedAt    time.Time `json:"started_at"`
	RaisedAt     time.Time `json:"raised_at"`
	// Compliant counts consecutive compliant fixes towards clearing (Config.ClearFixes).
	Compliant int `json:"compliant,omitempty"`
}

// State is the rule state of one vehicle. It is small, JSON-serialisable with encoding/json, and
// the whole memory of the rules: Evaluate and Tick with a reloaded State behave exactly as with
// the original, which makes replay after a crash safe.
type State struct {
	LastFixTS time.Time `json:"last_ts,omitzero"`   // ts of the last processed fix
	LastSeen  time.Time `json:"last_seen,omitzero"` // server time it was received
	Lat       float64   `json:"lat,omitempty"`      // its position
	Lon       float64   `json:"lon,omitempty"`
	HasPos    bool      `json:"has_pos,omitempty"` // a fix was processed
	EndedTrip string    `json:"ended_trip,omitempty"`

	Alarms []ActiveAlarm `json:"alarms,omitempty"` // currently raised, in raise order

	Deviation Episode      `json:"deviation,omitzero"` // consecutive off-corridor fixes of Deviation.TripID
	Overspeed Episode      `json:"overspeed,omitzero"` // consecutive over-limit fixes
	Stop      Episode      `json:"stop,omitzero"`      // stopped since Stop.Since on trip Stop.TripID
	Fatigue   FatigueState `json:"fatigue,omitzero"`
}

// Episode is a run of consecutive violating fixes that has not raised (yet).
type Episode struct {
	TripID string `json:"trip_id,omitempty"` // trip the run belongs to (route_deviation, unauthorized_stop)
	// TripStart is route_deviation's trip start: Tick does not take a trip that has not started
	// by the server clock (a device clock running ahead) for one that has ended.
	TripStart time.Time `json:"trip_start,omitzero"`
	Count     int       `json:"n,omitempty"`       // violating fixes so far
	Since     time.Time `json:"since,omitzero"`    // ts of the first
	MaxKmh    float64   `json:"max_kmh,omitempty"` // overspeed: highest speed so far
}

// FatigueState tracks continuous driving and the current rest.
type FatigueState struct {
	DriveSince time.Time `json:"drive_since,omitzero"` // first moving fix since the last full rest
	RestSince  time.Time `json:"rest_since,omitzero"`  // first fix of the current stop
}

// Active returns a copy of the currently raised alarms, in raise order.
func (st State) Active() []ActiveAlarm {
	if len(st.Alarms) == 0 {
		return nil
	}
	return append([]ActiveAlarm(nil), st.Alarms...)
}

// Offline reports whether signal_lost is active (live status "offline").
func (st State) Offline() bool {
	return st.find(tracking.AlarmSignalLost, "") >= 0
}

// LastTS returns the ts of the last processed fix (zero before the first).
func (st State) LastTS() time.Time { return st.LastFixTS }

func (st *State) find(kind, key string) int {
	for i := range st.Alarms {
		if st.Alarms[i].Kind == kind && st.Alarms[i].Key == key {
			return i
		}
	}
	return -1
}

// OfflineDue returns the server time from which Tick raises signal_lost for the vehicle on trip:
// OfflineAfter after the last fix was received, or after the trip's start when no fix came since.
// ok is false when there is no trip or signal_lost is already active. The engine can keep its
// vehicles ordered by this time instead of ticking every vehicle.
func (st State) OfflineDue(cfg Config, trip *Trip) (due time.Time, ok bool) {
	if trip == nil || st.Offline() {
		return time.Time{}, false
	}
	since := st.LastSeen
	if since.Before(trip.StartsAt) {
		since = trip.StartsAt
	}
	return since.Add(cfg.OfflineAfter), true
}

// StopClearFixes is how many consecutive fixes at or above MovingKmh clear unauthorized_stop
// (CONTRACT §4: "2 consecutive fixes at ≥ 5 km/h", not CORRIDOR_CLEAR_FIXES).
const StopClearFixes = 2
