package tracking

import (
	"regexp"
	"time"

	"github.com/twpayne/go-geom"
)

// IDPattern is the form of carrier and vehicle ids (CONTRACT §2).
var IDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID reports whether s is a valid carrier or vehicle id. It is allocation-free.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Carrier is a transport company.
type Carrier struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Vehicle is a truck. TerminalID is its JT/T 808 terminal phone number (digits, no leading zeros).
type Vehicle struct {
	ID          string    `json:"id"`
	CarrierID   string    `json:"carrier_id"`
	Plate       string    `json:"plate"`
	TerminalID  *string   `json:"terminal_id"`
	HazardClass *string   `json:"hazard_class"`
	UNNumber    *string   `json:"un_number"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// PlateColor is the JT/T 415 plate colour code (1 blue, 2 yellow, 3 black, 4 white, 9 other);
	// 0 on create means the default, 2 (hazardous-goods trucks carry yellow plates).
	PlateColor int `json:"plate_color"`
	// JT808TimeOffset is the zone of its JT/T 808 terminal's clock ("+08:00"); nil: the
	// gateway's CORRIDOR_JT808_TIME_OFFSET.
	JT808TimeOffset *string `json:"jt808_time_offset"`
	// Rejected summarises the vehicle's refused fixes; nil when there are none.
	Rejected *Rejections `json:"rejected,omitempty"`
}

// Rejections are a vehicle's refused fixes (dead letters): counts by reason and the last one.
type Rejections struct {
	Counts map[string]int64 `json:"counts"`
	Last   LastRejection    `json:"last"`
}

// LastRejection is the most recent refused fix of a vehicle.
type LastRejection struct {
	Reason string    `json:"reason"`
	Detail string    `json:"detail"`
	At     time.Time `json:"at"`
}

// Corridor is an approved route: a line with a buffer and an optional speed limit.
type Corridor struct {
	ID          string
	Name        string
	Line        *geom.LineString // EPSG:4326, [lon, lat]
	BufferM     float64
	MaxSpeedKmh *float64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Zone kinds.
const (
	ZoneRestricted = "restricted"
	ZoneParking    = "parking"
	ZoneTerminal   = "terminal"
)

// ActiveHours is a daily local-time window "HH:MM"–"HH:MM"; From > To spans midnight.
type ActiveHours struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Zone is a polygonal area: restricted (alarm on entry), parking or terminal (stops allowed).
type Zone struct {
	ID          string
	Name        string
	Kind        string
	Area        geom.T // *geom.Polygon or *geom.MultiPolygon, EPSG:4326
	ActiveHours *ActiveHours
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Cargo describes what a trip carries.
type Cargo struct {
	UNNumber    string   `json:"un_number"`
	HazardClass string   `json:"hazard_class"`
	Description string   `json:"description"`
	QuantityKg  *float64 `json:"quantity_kg"`
}

// Trip assigns a vehicle to a corridor for a time window [StartsAt, EndsAt).
type Trip struct {
	ID          string     `json:"id"`
	VehicleID   string     `json:"vehicle_id"`
	CarrierID   string     `json:"carrier_id"`
	CorridorID  string     `json:"corridor_id"`
	StartsAt    time.Time  `json:"starts_at"`
	EndsAt      time.Time  `json:"ends_at"`
	Cargo       *Cargo     `json:"cargo"`
	CancelledAt *time.Time `json:"cancelled_at"`
	CreatedAt   time.Time  `json:"created_at"`
}

// ActiveAt reports whether the trip applies to a fix at ts (CONTRACT §4).
func (t *Trip) ActiveAt(ts time.Time) bool {
	return t.CancelledAt == nil && !ts.Before(t.StartsAt) && ts.Before(t.EndsAt)
}

// CANFrame is one raw J1939 frame as carried in a Position.
type CANFrame struct {
	ID   string `json:"id"`   // 29-bit identifier, hex
	Data string `json:"data"` // 8 bytes, hex
}

// Position is one fix (CONTRACT §2). Optional numbers are pointers: absent is not zero.
type Position struct {
	VehicleID    string     `json:"vehicle_id"`
	CarrierID    string     `json:"carrier_id,omitempty"`
	TS           time.Time  `json:"ts"`
	Lat          float64    `json:"lat"`
	Lon          float64    `json:"lon"`
	SpeedKmh     *float64   `json:"speed_kmh,omitempty"`
	HeadingDeg   *float64   `json:"heading_deg,omitempty"`
	AltitudeM    *float64   `json:"altitude_m,omitempty"`
	AccuracyM    *float64   `json:"accuracy_m,omitempty"`
	Satellites   *float64   `json:"satellites,omitempty"`
	OdometerKm   *float64   `json:"odometer_km,omitempty"`
	FuelPct      *float64   `json:"fuel_pct,omitempty"`
	FuelL        *float64   `json:"fuel_l,omitempty"`
	EngineRPM    *float64   `json:"engine_rpm,omitempty"`
	CoolantC     *float64   `json:"coolant_c,omitempty"`
	Ignition     *bool      `json:"ignition,omitempty"`
	DeviceAlarms []string   `json:"device_alarms,omitempty"`
	CAN          []CANFrame `json:"can,omitempty"`
}

// MsgID is the JetStream de-duplication id of a position: "<vehicle_id>:<ts as Unix nanoseconds>",
// the time truncated to the microsecond as history stores it.
func (p *Position) MsgID() string {
	return p.VehicleID + ":" + itoa(p.TS.Truncate(time.Microsecond).UnixNano())
}

func itoa(n int64) string {
	var b [24]byte
	i := len(b)
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
	}
	for {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// Subject is the NATS subject a position is published on.
func (p *Position) Subject() string { return "telemetry." + p.CarrierID + "." + p.VehicleID }

// Alarm kinds (CONTRACT §4).
const (
	AlarmRouteDeviation   = "route_deviation"
	AlarmRestrictedZone   = "restricted_zone"
	AlarmOverspeed        = "overspeed"
	AlarmSignalLost       = "signal_lost"
	AlarmUnauthorizedStop = "unauthorized_stop"
	AlarmFatigueDriving   = "fatigue_driving"
	AlarmDevice           = "device_alarm"
)

// AlarmKinds lists every kind, in contract order.
var AlarmKinds = []string{AlarmRouteDeviation, AlarmRestrictedZone, AlarmOverspeed, AlarmSignalLost,
	AlarmUnauthorizedStop, AlarmFatigueDriving, AlarmDevice}

// Severities.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
)

// Severity returns the severity of an alarm kind.
func Severity(kind string) string {
	switch kind {
	case AlarmOverspeed, AlarmUnauthorizedStop, AlarmFatigueDriving:
		return SeverityWarning
	}
	return SeverityCritical
}

// Alarm states (moved by people only).
const (
	StateOpen         = "open"
	StateAcknowledged = "acknowledged"
	StateResolved     = "resolved"
)

// Alarm events published on alarms.<kind>.<carrier>.<vehicle>.
const (
	EventRaised       = "raised"
	EventCleared      = "cleared"
	EventAcknowledged = "acknowledged"
	EventResolved     = "resolved"
	EventEscalated    = "escalated"
)

// LatLon is a bare coordinate as the alarm's position.
type LatLon struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Alarm is one raised alarm (CONTRACT §3).
type Alarm struct {
	ID             string     `json:"id"`
	Kind           string     `json:"kind"`
	Severity       string     `json:"severity"`
	State          string     `json:"state"`
	Active         bool       `json:"active"`
	VehicleID      string     `json:"vehicle_id"`
	CarrierID      string     `json:"carrier_id"`
	TripID         *string    `json:"trip_id"`
	CorridorID     *string    `json:"corridor_id"`
	ZoneID         *string    `json:"zone_id"`
	DeviceAlarm    *string    `json:"device_alarm"` // the JT/T 808 alarm name, for kind device_alarm
	StartedAt      time.Time  `json:"started_at"`
	RaisedAt       time.Time  `json:"raised_at"`
	ClearedAt      *time.Time `json:"cleared_at"`
	Position       *LatLon    `json:"position"`
	DistanceM      *float64   `json:"distance_m"`
	SpeedKmh       *float64   `json:"speed_kmh"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	AcknowledgedBy *string    `json:"acknowledged_by"`
	ResolvedAt     *time.Time `json:"resolved_at"`
	ResolvedBy     *string    `json:"resolved_by"`
	Note           *string    `json:"note"`
	// The API key ids behind AcknowledgedBy and ResolvedBy (names are not unique).
	AcknowledgedByKeyID *string `json:"acknowledged_by_key_id"`
	ResolvedByKeyID     *string `json:"resolved_by_key_id"`
	// Disposal is how a person disposed of a resolved alarm (Disposals); null until resolved.
	Disposal *string `json:"disposal"`
	// EscalatedAt is when the alarm escalated, unacknowledged (see package escalate); null if it did not.
	EscalatedAt *time.Time `json:"escalated_at"`
}

// Actor is who changes an alarm's state: an API key's id and its display name.
type Actor struct {
	KeyID string
	Name  string
}

// AlarmEvent is the message published for every alarm change.
type AlarmEvent struct {
	Event string `json:"event"`
	Alarm Alarm  `json:"alarm"`
	// Reason says why an escalated event was published (EscalationUnacknowledged, ...); absent otherwise.
	Reason string `json:"reason,omitempty"`
}

// Subject is the NATS subject of an alarm event.
func (a *Alarm) Subject() string { return "alarms." + a.Kind + "." + a.CarrierID + "." + a.VehicleID }

// Live statuses.
const (
	StatusOnRoute  = "on_route"
	StatusOffRoute = "off_route"
	StatusNoTrip   = "no_trip"
	StatusOffline  = "offline"
)

// VehicleState is the live view of one vehicle (CONTRACT §3).
type VehicleState struct {
	VehicleID  string    `json:"vehicle_id"`
	CarrierID  string    `json:"carrier_id"`
	Plate      string    `json:"plate"`
	TS         time.Time `json:"ts"`
	Lat        float64   `json:"lat"`
	Lon        float64   `json:"lon"`
	SpeedKmh   *float64  `json:"speed_kmh"`
	HeadingDeg *float64  `json:"heading_deg"`
	Status     string    `json:"status"`
	TripID     *string   `json:"trip_id"`
	CorridorID *string   `json:"corridor_id"`
	DistanceM  *float64  `json:"distance_m"`
	// ProgressM and RemainingM are metres along the active trip's corridor from its start to the
	// point nearest the fix, and from there to its end; ETA is the expected arrival at the end
	// (see SetProgress). All null without an active trip; ETA null while stopped.
	ProgressM  *float64   `json:"progress_m"`
	RemainingM *float64   `json:"remaining_m"`
	ETA        *time.Time `json:"eta"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// Roles of API keys.
const (
	RoleAdmin      = "admin"
	RoleDispatcher = "dispatcher"
	RoleSafety     = "safety"
	RoleCarrier    = "carrier"
)

// APIKey is a stored API key (the token itself is never stored, only its hash).
type APIKey struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	CarrierID *string    `json:"carrier_id"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// Principal is who makes a request.
type Principal struct {
	KeyID     string // "admin-token" for the bootstrap token
	Name      string
	Role      string
	CarrierID string // set for role carrier
}
