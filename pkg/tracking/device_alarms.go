package tracking

import "strconv"

// MaxDeviceAlarms is the most names one fix's device_alarms may carry: JT/T 808 has 32 alarm bits.
const MaxDeviceAlarms = 32

// deviceAlarmNames are the names device_alarms may carry: the JT/T 808 alarm-flag bits (table 24
// of JT/T 808-2013, with the two names JT/T 808-2019 gave bits 3 and 29), as the JT/T 808
// gateway names them (pkg/jt808 checks that its tables and this list agree).
var deviceAlarmNames = []string{
	"emergency", "overspeed", "fatigue", "danger_warning", "dangerous_driving", "gnss_fault",
	"gnss_antenna_open", "gnss_antenna_short", "power_low", "power_cut", "display_fault",
	"tts_fault", "camera_fault", "ic_card_fault", "overspeed_warning", "fatigue_warning",
	"violation_driving_warning", "tyre_pressure_warning", "right_turn_blind_zone",
	"daily_driving_timeout", "overtime_parking", "area_in_out", "route_in_out",
	"route_driving_time", "route_deviation", "vss_fault", "fuel_abnormal", "vehicle_stolen",
	"illegal_ignition", "illegal_displacement", "collision_warning", "collision_rollover",
	"rollover_warning", "illegal_door_open",
}

var deviceAlarmSet = func() map[string]struct{} {
	m := make(map[string]struct{}, len(deviceAlarmNames))
	for _, n := range deviceAlarmNames {
		m[n] = struct{}{}
	}
	return m
}()

// DeviceAlarmNames returns every name device_alarms may carry.
func DeviceAlarmNames() []string { return append([]string(nil), deviceAlarmNames...) }

// IsDeviceAlarmName reports whether name is a JT/T 808 alarm name device_alarms may carry.
func IsDeviceAlarmName(name string) bool {
	_, ok := deviceAlarmSet[name]
	return ok
}

// checkDeviceAlarms reports what is wrong with a fix's device_alarms through bad: more than
// MaxDeviceAlarms names (one error, the names are not looked at), or each unknown name.
func checkDeviceAlarms(names []string, bad func(field, msg, reason string)) {
	if len(names) > MaxDeviceAlarms {
		bad("device_alarms", "at most "+strconv.Itoa(MaxDeviceAlarms)+" names (JT/T 808 has 32 alarm bits), got "+
			strconv.Itoa(len(names)), ReasonInvalidField)
		return
	}
	for i, a := range names {
		if !IsDeviceAlarmName(a) {
			bad("device_alarms["+strconv.Itoa(i)+"]", "must be a JT/T 808 alarm name (e.g. emergency, overspeed, fatigue, power_cut)",
				ReasonInvalidField)
		}
	}
}
