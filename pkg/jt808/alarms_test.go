package jt808

import (
	"slices"
	"testing"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// The names device_alarms may carry (tracking validates them at every entrance) are exactly the
// names this codec produces: every bit of both header versions, and nothing else.
func TestAlarmNamesAgreeWithTracking(t *testing.T) {
	var produced []string
	for _, v := range []Version{V2013, V2019} {
		for bit := 0; bit < 32; bit++ {
			name := AlarmName(bit, v)
			if !tracking.IsDeviceAlarmName(name) {
				t.Errorf("bit %d (%v) is %q, which tracking rejects", bit, v, name)
			}
			if !slices.Contains(produced, name) {
				produced = append(produced, name)
			}
		}
	}
	for _, name := range tracking.DeviceAlarmNames() {
		if !slices.Contains(produced, name) {
			t.Errorf("tracking accepts %q, which no JT/T 808 alarm bit produces", name)
		}
	}
	if got := AlarmNames(0xffffffff, V2019); len(got) > tracking.MaxDeviceAlarms {
		t.Errorf("all bits set give %d names, over tracking's limit %d", len(got), tracking.MaxDeviceAlarms)
	}
}
