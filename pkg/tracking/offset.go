package tracking

import (
	"fmt"
	"time"
)

// ParseUTCOffset parses a fixed UTC offset "+08:00" / "-05:30" / "Z" (RFC 3339's time-offset,
// at most ±14:00) into a fixed zone named as given (Z as +00:00).
func ParseUTCOffset(s string) (*time.Location, error) {
	if s == "Z" || s == "z" {
		return time.FixedZone("+00:00", 0), nil
	}
	bad := fmt.Errorf("%q is not a UTC offset such as +08:00", s)
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return nil, bad
	}
	d := func(c byte) (int, bool) { return int(c - '0'), c >= '0' && c <= '9' }
	h1, ok1 := d(s[1])
	h2, ok2 := d(s[2])
	m1, ok3 := d(s[4])
	m2, ok4 := d(s[5])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, bad
	}
	h, m := h1*10+h2, m1*10+m2
	if m > 59 || h*60+m > 14*60 {
		return nil, bad
	}
	sec := (h*60 + m) * 60
	if s[0] == '-' {
		sec = -sec
	}
	return time.FixedZone(s, sec), nil
}
