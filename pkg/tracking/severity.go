package tracking

// deviceAlarmSeverity is the severity of a device_alarm by the alarm's name: the names the
// JT/T 808 gateway gives the alarm bits (pkg/jt808 alarms.go, JT/T 808-2013 table 24 and the
// 2019 redefinitions). The table is documented in docs/OPERATIONS.md ("Device alarm severity").
//
// Critical: the driver or the load is in danger now, or the vehicle is being tampered with or
// taken. Warning: equipment faults and driving-behaviour warnings that the platform's own rules
// (overspeed, fatigue_driving, route_deviation…) judge independently.
var deviceAlarmSeverity = map[string]string{
	"emergency":            SeverityCritical, // bit 0: SOS button
	"danger_warning":       SeverityCritical, // bit 3 (2013)
	"dangerous_driving":    SeverityCritical, // bit 3 (2019)
	"power_cut":            SeverityCritical, // bit 8: main power off (tampering with the tracker)
	"vehicle_stolen":       SeverityCritical, // bit 26
	"illegal_ignition":     SeverityCritical, // bit 27
	"illegal_displacement": SeverityCritical, // bit 28
	"collision_warning":    SeverityCritical, // bit 29 (2013)
	"collision_rollover":   SeverityCritical, // bit 29 (2019)
	"rollover_warning":     SeverityCritical, // bit 30
	"illegal_door_open":    SeverityCritical, // bit 31 (2013)

	"overspeed":                 SeverityWarning, // bit 1
	"fatigue":                   SeverityWarning, // bit 2
	"gnss_fault":                SeverityWarning, // bit 4
	"gnss_antenna_open":         SeverityWarning, // bit 5
	"gnss_antenna_short":        SeverityWarning, // bit 6
	"power_low":                 SeverityWarning, // bit 7
	"display_fault":             SeverityWarning, // bit 9
	"tts_fault":                 SeverityWarning, // bit 10
	"camera_fault":              SeverityWarning, // bit 11
	"ic_card_fault":             SeverityWarning, // bit 12
	"overspeed_warning":         SeverityWarning, // bit 13
	"fatigue_warning":           SeverityWarning, // bit 14
	"violation_driving_warning": SeverityWarning, // bit 15 (2019)
	"tyre_pressure_warning":     SeverityWarning, // bit 16 (2019)
	"right_turn_blind_zone":     SeverityWarning, // bit 17 (2019)
	"daily_driving_timeout":     SeverityWarning, // bit 18
	"overtime_parking":          SeverityWarning, // bit 19
	"area_in_out":               SeverityWarning, // bit 20
	"route_in_out":              SeverityWarning, // bit 21
	"route_driving_time":        SeverityWarning, // bit 22
	"route_deviation":           SeverityWarning, // bit 23
	"vss_fault":                 SeverityWarning, // bit 24
	"fuel_abnormal":             SeverityWarning, // bit 25
}

// DeviceAlarmSeverity returns the severity of a device_alarm named name. Names outside the
// JT/T 808 table (a carrier's own, pushed over HTTP or NATS) are critical: an alarm nobody
// classified is not played down.
func DeviceAlarmSeverity(name string) string {
	if s, ok := deviceAlarmSeverity[name]; ok {
		return s
	}
	return SeverityCritical
}

// AlarmSeverity returns the severity of an alarm of kind; for device_alarm it depends on the
// device alarm's name (DeviceAlarmSeverity), for the other kinds on the kind alone (Severity).
// Where an alarm is stored or published, its severity comes from here.
func AlarmSeverity(kind, deviceAlarm string) string {
	if kind == AlarmDevice {
		return DeviceAlarmSeverity(deviceAlarm)
	}
	return Severity(kind)
}
