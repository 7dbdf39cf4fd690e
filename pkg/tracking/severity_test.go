package tracking

import "testing"

func TestAlarmSeverity(t *testing.T) {
	for _, c := range []struct{ kind, name, want string }{
		{AlarmDevice, "emergency", SeverityCritical},
		{AlarmDevice, "collision_rollover", SeverityCritical},
		{AlarmDevice, "collision_warning", SeverityCritical},
		{AlarmDevice, "rollover_warning", SeverityCritical},
		{AlarmDevice, "tts_fault", SeverityWarning},
		{AlarmDevice, "gnss_fault", SeverityWarning},
		{AlarmDevice, "gnss_antenna_open", SeverityWarning},
		{AlarmDevice, "camera_fault", SeverityWarning},
		{AlarmDevice, "fatigue", SeverityWarning},
		{AlarmDevice, "a_carriers_own_name", SeverityCritical},
		{AlarmOverspeed, "", SeverityWarning},
		{AlarmRouteDeviation, "", SeverityCritical},
		{AlarmRouteDeviation, "tts_fault", SeverityCritical}, // the name matters only for device_alarm
	} {
		if got := AlarmSeverity(c.kind, c.name); got != c.want {
			t.Errorf("AlarmSeverity(%s, %s) = %s, want %s", c.kind, c.name, got, c.want)
		}
	}
	for name, s := range deviceAlarmSeverity {
		if s != SeverityCritical && s != SeverityWarning {
			t.Errorf("%s: severity %q", name, s)
		}
	}
}
