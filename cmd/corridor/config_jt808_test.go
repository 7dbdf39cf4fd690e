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

// CORRIDOR_ENGINE_PARTITIONS: 8 by default, 1..64, anything else one clear line.
func TestEnginePartitionsConfig(t *testing.T) {
	for in, want := range map[string]int{"": 8, "1": 1, "4": 4, "64": 64} {
		c, err := loadConfig(func(k string) string { return map[string]string{"CORRIDOR_ENGINE_PARTITIONS": in}[k] })
		if err != nil || c.EnginePartitions != want {
			t.Errorf("%q: %d %v, want %d", in, c.EnginePartitions, err, want)
		}
	}
	for _, in := range []string{"0", "65", "x", "-1"} {
		if _, err := loadConfig(func(k string) string { return map[string]string{"CORRIDOR_ENGINE_PARTITIONS": in}[k] }); err == nil ||
			!strings.Contains(err.Error(), "CORRIDOR_ENGINE_PARTITIONS") {
			t.Errorf("%q accepted: %v", in, err)
		}
	}
}
