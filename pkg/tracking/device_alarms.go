package tracking

import (
	"sort"
	"strconv"
)

// MaxDeviceAlarms is the most names one fix's device_alarms may carry: JT/T 808 has 32 alarm bits.
const MaxDeviceAlarms = 32

// DeviceAlarmNames returns every name device_alarms may carry: the JT/T 808 alarm-flag bits
// (table 24 of JT/T 808-2013, with the two names JT/T 808-2019 gave bits 3 and 29), as the JT/T
// 808 gateway names them (pkg/jt808 checks that its tables and this list agree), sorted. The one
// table of them is deviceAlarmSeverity.
func DeviceAlarmNames() []string {
	names := make([]string, 0, len(deviceAlarmSeverity))
	for n := range deviceAlarmSeverity {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// IsDeviceAlarmName reports whether name is a JT/T 808 alarm name device_alarms may carry.
func IsDeviceAlarmName(name string) bool {
	_, ok := deviceAlarmSeverity[name]
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
