package jt808

import (
	"testing"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Every alarm name the gateway produces has a severity in tracking's table.
func TestAlarmNamesHaveSeverity(t *testing.T) {
	for _, v := range []Version{V2013, V2019} {
		for bit := 0; bit < 32; bit++ {
			if name := AlarmName(bit, v); !tracking.IsDeviceAlarmName(name) {
				t.Errorf("%v bit %d %q has no severity", v, bit, name)
			}
		}
	}
	if tracking.DeviceAlarmSeverity(AlarmName(10, V2013)) != tracking.SeverityWarning ||
		tracking.DeviceAlarmSeverity(AlarmName(29, V2019)) != tracking.SeverityCritical {
		t.Error("tts_fault must be a warning, collision_rollover critical")
	}
}
