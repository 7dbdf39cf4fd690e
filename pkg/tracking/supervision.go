package tracking

import (
	"math"
	"slices"
	"time"
)

// Disposals: how a person disposed of an alarm when resolving it (GB/T 35658 asks that every
// alarm's handling be recorded, and reported upward over JT/T 809).
const (
	DisposalHandled    = "handled"     // acted on: the driver was called, the vehicle stopped, ...
	DisposalNoAction   = "no_action"   // looked at; nothing needed doing
	DisposalFalseAlarm = "false_alarm" // the alarm was wrong (device fault, GPS drift, ...)
	DisposalLater      = "later"       // to be handled later
)

// Disposals lists every disposal.
var Disposals = []string{DisposalHandled, DisposalNoAction, DisposalFalseAlarm, DisposalLater}

// ValidDisposal reports whether d is one of Disposals.
func ValidDisposal(d string) bool { return slices.Contains(Disposals, d) }

// Reasons of an escalated alarm event.
const (
	// EscalationUnacknowledged: a critical alarm nobody acknowledged within CORRIDOR_ESCALATE_AFTER.
	EscalationUnacknowledged = "unacknowledged"
	// EscalationSupervisionDeadline: the regulator's supervision deadline (JT/T 809 0x9401) approaches.
	EscalationSupervisionDeadline = "supervision_deadline"
)

// StopSpeedKmh is the speed under which a vehicle counts as stopped (CONTRACT §4) and has no ETA.
const StopSpeedKmh = 5.0

// SetProgress fills in the progress fields of a vehicle on a trip: alongM metres travelled along
// its corridor (geofence.Index.CheckProgress), lengthM the corridor's length, and the ETA at
// avgSpeedKmh (SmoothSpeed) from the fix time. A vehicle without an active trip keeps them null.
func (s *VehicleState) SetProgress(alongM, lengthM, avgSpeedKmh float64) {
	along := math.Max(0, math.Min(alongM, lengthM))
	rem := lengthM - along
	s.ProgressM, s.RemainingM = &along, &rem
	s.ETA = ETA(s.TS, rem, avgSpeedKmh)
}

// ClearProgress sets the progress fields to null (no active trip).
func (s *VehicleState) ClearProgress() { s.ProgressM, s.RemainingM, s.ETA = nil, nil, nil }

// ETA returns when a vehicle remainingM metres from its destination at ts arrives at speedKmh,
// in UTC and to the second; nil when it is stopped (speed under StopSpeedKmh) or the inputs are
// not finite. Zero remaining is ts itself.
func ETA(ts time.Time, remainingM, speedKmh float64) *time.Time {
	if !(speedKmh >= StopSpeedKmh) || math.IsInf(speedKmh, 0) || math.IsNaN(remainingM) || math.IsInf(remainingM, 0) {
		return nil
	}
	secs := math.Max(0, remainingM) / (speedKmh / 3.6)
	if secs > 365*24*3600 {
		return nil // not an arrival anyone waits for
	}
	t := ts.Add(time.Duration(math.Round(secs)) * time.Second).UTC()
	return &t
}

// SmoothSpeed is an exponentially weighted average of speed over time with time constant tau: the
// weight of the previous average after dt is exp(-dt/tau), so a few minutes of driving outweigh
// a stop at lights, and a real stop brings the average (and the ETA) down within about tau.
// prevTS zero (no previous average) or dt <= 0 handled: the first sample is the average; a
// sample no newer than the previous one changes nothing. tau <= 0 means no smoothing.
func SmoothSpeed(prevAvg float64, prevTS time.Time, speedKmh float64, ts time.Time, tau time.Duration) float64 {
	if math.IsNaN(speedKmh) || math.IsInf(speedKmh, 0) || speedKmh < 0 {
		return prevAvg
	}
	if prevTS.IsZero() || tau <= 0 || math.IsNaN(prevAvg) {
		return speedKmh
	}
	dt := ts.Sub(prevTS)
	if dt <= 0 {
		return prevAvg
	}
	w := math.Exp(-dt.Seconds() / tau.Seconds())
	return w*prevAvg + (1-w)*speedKmh
}

// DefaultSpeedTau is the time constant of SmoothSpeed the engine uses for ETAs.
const DefaultSpeedTau = 5 * time.Minute

// Supervision is a regulator's supervision request on an alarm (JT/T 809 0x9401, 报警督办):
// who asked, by when the alarm must be handled, and how Corridor answered.
type Supervision struct {
	ID              string     `json:"id"`
	AlarmID         *string    `json:"alarm_id"` // null when no reported alarm matched the request
	CarrierID       *string    `json:"carrier_id"`
	VehicleID       *string    `json:"vehicle_id"`
	SupervisionID   int64      `json:"supervision_id"` // the regulator's id (2011) or its frame's MSG_SN (2019)
	Level           string     `json:"level"`          // "urgent" or "normal"
	Supervisor      string     `json:"supervisor"`
	SupervisorTel   string     `json:"supervisor_tel"`
	SupervisorEmail string     `json:"supervisor_email"`
	RequestedAt     time.Time  `json:"requested_at"`
	Deadline        time.Time  `json:"deadline"`
	Result          *string    `json:"result"` // handling result sent up: processing, done, no_action, later
	AnsweredAt      *time.Time `json:"answered_at"`
	EscalatedAt     *time.Time `json:"escalated_at"`
}

// SupervisionEvent is the live-stream payload of "event: supervision".
type SupervisionEvent struct {
	Event       string      `json:"event"` // "requested" or "answered"
	Supervision Supervision `json:"supervision"`
}

// DutyCheck is a regulator's duty check (JT/T 809 0x9301, 平台查岗): a question an on-duty officer
// must answer; the answer goes up with 0x1301.
type DutyCheck struct {
	ID           string     `json:"id"`
	InfoID       int64      `json:"info_id"`
	Question     string     `json:"question"`
	ObjectType   *int       `json:"object_type"`
	ObjectID     *string    `json:"object_id"`
	AskedAt      time.Time  `json:"asked_at"`
	AnswerBy     *time.Time `json:"answer_by"` // 2019: asked_at + ANSWER_TIME
	Answer       *string    `json:"answer"`
	AnsweredBy   *string    `json:"answered_by"`
	AnsweredAt   *time.Time `json:"answered_at"`
	ResponseSecs *float64   `json:"response_seconds"` // answered_at - asked_at
	SentAt       *time.Time `json:"sent_at"`          // when 0x1301 was written to the upper platform
}

// The JT/T 809 uplink's storage records (pkg/postgres implements, pkg/jt809/uplink uses them).

// UplinkVehicle is what the uplink needs of a vehicle: plate, colour and trip windows.
type UplinkVehicle struct {
	ID, CarrierID, Plate string
	PlateColor           int
	Trips                [][2]time.Time // [starts_at, ends_at) of its trips that are not cancelled
}

// OnTrip reports whether a trip of the vehicle is active at ts.
func (v UplinkVehicle) OnTrip(ts time.Time) bool {
	for _, t := range v.Trips {
		if !ts.Before(t[0]) && ts.Before(t[1]) {
			return true
		}
	}
	return false
}

// AlarmReport is an alarm reported up with 0x1402.
type AlarmReport struct {
	AlarmID    string
	InfoID     uint32
	MsgSN      *uint32
	VehicleID  string
	WarnType   uint16
	WarnTime   time.Time
	ResultSent *int
}

// NewSupervision is a 0x9401 to store.
type NewSupervision struct {
	AlarmID                                    *string
	SupervisionID                              int64
	Level                                      int
	Supervisor, SupervisorTel, SupervisorEmail string
	Deadline                                   time.Time
	WarnType                                   int
	WarnTime                                   time.Time
	Plate                                      string
}

// NewDutyCheck is a 0x9301 to store. MsgSN is the request frame's MSG_SN (2019 answers name it).
type NewDutyCheck struct {
	InfoID       int64
	MsgSN        int64
	ObjectType   *int
	ObjectID     *string
	Question     string
	AnswerWithin time.Duration // 0: no limit given
}

// UnsentDutyAnswer is an answered duty check whose 0x1301 is not yet sent.
type UnsentDutyAnswer struct {
	ID, Answer, AnsweredBy string
	InfoID, MsgSN          int64
	ObjectType             *int
	ObjectID               *string
}
