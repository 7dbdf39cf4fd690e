package jt808

// alarmNames2013 names the 32 alarm-flag bits of JT/T 808-2013 table 24. Bits the 2013 text
// reserves (15–17) carry the meaning JT/T 808-2019 gave them, the only published one.
var alarmNames2013 = [32]string{
	0:  "emergency",
	1:  "overspeed",
	2:  "fatigue",
	3:  "danger_warning",
	4:  "gnss_fault",
	5:  "gnss_antenna_open",
	6:  "gnss_antenna_short",
	7:  "power_low",
	8:  "power_cut",
	9:  "display_fault",
	10: "tts_fault",
	11: "camera_fault",
	12: "ic_card_fault",
	13: "overspeed_warning",
	14: "fatigue_warning",
	15: "violation_driving_warning",
	16: "tyre_pressure_warning",
	17: "right_turn_blind_zone",
	18: "daily_driving_timeout",
	19: "overtime_parking",
	20: "area_in_out",
	21: "route_in_out",
	22: "route_driving_time",
	23: "route_deviation",
	24: "vss_fault",
	25: "fuel_abnormal",
	26: "vehicle_stolen",
	27: "illegal_ignition",
	28: "illegal_displacement",
	29: "collision_warning",
	30: "rollover_warning",
	31: "illegal_door_open",
}

// alarmNames2019 is the 2013 table with the JT/T 808-2019 redefinitions (bits 3 and 29).
// Bit 31, reserved in 2019, keeps its 2013 meaning.
var alarmNames2019 = func() [32]string {
	t := alarmNames2013
	t[3] = "dangerous_driving"
	t[29] = "collision_rollover"
	return t
}()

// AlarmName returns the stable snake_case name of alarm bit (0–31) for a header version.
func AlarmName(bit int, v Version) string {
	if bit < 0 || bit > 31 {
		return ""
	}
	if v == V2019 {
		return alarmNames2019[bit]
	}
	return alarmNames2013[bit]
}

// AlarmNames returns the names of the bits set in flags, lowest bit first; nil when none.
func AlarmNames(flags uint32, v Version) []string {
	if flags == 0 {
		return nil
	}
	t := &alarmNames2013
	if v == V2019 {
		t = &alarmNames2019
	}
	out := make([]string, 0, 4)
	for bit := 0; bit < 32; bit++ {
		if flags&(1<<bit) != 0 {
			out = append(out, t[bit])
		}
	}
	return out
}
