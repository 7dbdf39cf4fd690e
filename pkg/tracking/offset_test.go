package tracking

import (
	"testing"
	"time"
)

func TestParseUTCOffset(t *testing.T) {
	for s, want := range map[string]int{"+08:00": 8 * 3600, "-05:30": -(5*3600 + 1800), "+00:00": 0, "Z": 0, "+14:00": 14 * 3600} {
		l, err := ParseUTCOffset(s)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if _, off := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).In(l).Zone(); off != want {
			t.Errorf("%s: offset %d, want %d", s, off, want)
		}
	}
	for _, s := range []string{"", "8", "+8:00", "+08:60", "+14:01", "+0800", "UTC", "Asia/Shanghai", "+0a:00"} {
		if _, err := ParseUTCOffset(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
