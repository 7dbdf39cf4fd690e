package tracking

import "time"

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
