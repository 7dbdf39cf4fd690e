package main

import (
	"strings"
	"testing"
	"time"
)

// CORRIDOR_JT808_TIME_OFFSET reaches the gateway's configuration; +08:00 by default.
func TestJT808TimeOffsetConfig(t *testing.T) {
	offset := func(env map[string]string) (int, error) {
		c, err := loadConfig(func(k string) string { return env[k] })
		if err != nil {
			return 0, err
		}
		_, off := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).In(c.JT808TimeOffset).Zone()
		return off, nil
	}
	for in, want := range map[string]int{"": 8 * 3600, "+00:00": 0, "-03:00": -3 * 3600, "Z": 0} {
		got, err := offset(map[string]string{"CORRIDOR_JT808_TIME_OFFSET": in})
		if err != nil || got != want {
			t.Errorf("%q: offset %d %v, want %d", in, got, err, want)
		}
	}
	if _, err := offset(map[string]string{"CORRIDOR_JT808_TIME_OFFSET": "Asia/Shanghai"}); err == nil ||
		!strings.Contains(err.Error(), "CORRIDOR_JT808_TIME_OFFSET") {
		t.Errorf("a zone name accepted: %v", err)
	}
}
