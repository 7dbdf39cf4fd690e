package rules

import (
	"fmt"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// ParseClock parses a local time of day "HH:MM" (or "H:MM") into minutes after midnight.
// "24:00" is accepted as the end of the day (1440). It does not allocate.
func ParseClock(s string) (minutes int, ok bool) {
	var h, m int
	switch {
	case len(s) == 5 && s[2] == ':':
		h = digits2(s[0], s[1])
		m = digits2(s[3], s[4])
	case len(s) == 4 && s[1] == ':':
		h = digits2('0', s[0])
		m = digits2(s[2], s[3])
	default:
		return 0, false
	}
	if h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, false
	}
	return h*60 + m, true
}

func digits2(a, b byte) int {
	if a < '0' || a > '9' || b < '0' || b > '9' {
		return -1
	}
	return int(a-'0')*10 + int(b-'0')
}

// ValidateActiveHours reports whether h is a usable daily window (nil is: the zone always applies).
// The API should reject what this rejects; Applies treats an invalid window as always applying.
func ValidateActiveHours(h *tracking.ActiveHours) error {
	if h == nil {
		return nil
	}
	if _, ok := ParseClock(h.From); !ok {
		return fmt.Errorf("active_hours.from: %q is not a time of day HH:MM", h.From)
	}
	if _, ok := ParseClock(h.To); !ok {
		return fmt.Errorf("active_hours.to: %q is not a time of day HH:MM", h.To)
	}
	return nil
}

// Applies reports whether a zone with active hours h applies at t, read as local time in loc.
//
// The window is [From, To): it starts at From and ends just before To, with minute boundaries
// taken at second :00. From > To spans midnight (22:00–06:00 applies from 22:00 to 05:59:59).
// From == To (including 00:00–24:00) means all day. A nil window, or one that does not parse,
// always applies: for a restricted zone a false alarm is the safer failure. Applies does not
// allocate.
func Applies(h *tracking.ActiveHours, t time.Time, loc *time.Location) bool {
	if h == nil {
		return true
	}
	from, ok1 := ParseClock(h.From)
	to, ok2 := ParseClock(h.To)
	if !ok1 || !ok2 {
		return true
	}
	from %= 1440
	to %= 1440
	if from == to {
		return true
	}
	if loc != nil {
		t = t.In(loc)
	}
	hh, mm, ss := t.Clock()
	sec := hh*3600 + mm*60 + ss
	f, e := from*60, to*60
	if from < to {
		return sec >= f && sec < e
	}
	return sec >= f || sec < e
}
