package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if c.DeviationConfirmFixes != 3 || c.ClearFixes != 2 || c.OverspeedConfirmFixes != 3 || c.DefaultMaxSpeedKmh != 80 ||
		c.OfflineAfter != 5*time.Minute || c.StopAfter != 15*time.Minute || c.FatigueDrive != 4*time.Hour ||
		c.FatigueRest != 20*time.Minute {
		t.Errorf("defaults differ from CONTRACT §1: %+v", c)
	}
	if _, off := time.Date(2026, 7, 1, 12, 0, 0, 0, c.Location).Zone(); off != 8*3600 {
		t.Errorf("default zone offset %d, want UTC+8", off)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // substring of the error; "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"one fix each", func(c *Config) { c.DeviationConfirmFixes, c.ClearFixes, c.OverspeedConfirmFixes = 1, 1, 1 }, ""},
		{"zero deviation fixes", func(c *Config) { c.DeviationConfirmFixes = 0 }, EnvDeviationConfirmFixes},
		{"negative clear fixes", func(c *Config) { c.ClearFixes = -1 }, EnvClearFixes},
		{"zero overspeed fixes", func(c *Config) { c.OverspeedConfirmFixes = 0 }, EnvOverspeedConfirmFixes},
		{"zero speed", func(c *Config) { c.DefaultMaxSpeedKmh = 0 }, EnvDefaultMaxSpeedKmh},
		{"NaN speed", func(c *Config) { c.DefaultMaxSpeedKmh = nan() }, EnvDefaultMaxSpeedKmh},
		{"infinite speed", func(c *Config) { c.DefaultMaxSpeedKmh = inf() }, EnvDefaultMaxSpeedKmh},
		{"zero offline", func(c *Config) { c.OfflineAfter = 0 }, EnvOfflineAfter},
		{"negative stop", func(c *Config) { c.StopAfter = -time.Minute }, EnvStopAfter},
		{"zero drive", func(c *Config) { c.FatigueDrive = 0 }, EnvFatigueDrive},
		{"zero rest", func(c *Config) { c.FatigueRest = 0 }, EnvFatigueRest},
		{"no location", func(c *Config) { c.Location = nil }, EnvTimezone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
	var zero Config
	if err := zero.Validate(); err == nil || strings.Count(err.Error(), "\n") != 8 {
		t.Errorf("zero Config should report all 9 fields, got %v", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(Config) bool
		want  string // error substring
	}{
		{"empty is the defaults", nil, func(c Config) bool { return c.ClearFixes == 2 && c.Location.String() == DefaultTimezone }, ""},
		{"all set", map[string]string{
			EnvDeviationConfirmFixes: "5", EnvClearFixes: " 3 ", EnvOverspeedConfirmFixes: "4", EnvDefaultMaxSpeedKmh: "60.5",
			EnvOfflineAfter: "90s", EnvStopAfter: "10m", EnvFatigueDrive: "3h30m", EnvFatigueRest: "15m", EnvTimezone: "UTC",
		}, func(c Config) bool {
			return c.DeviationConfirmFixes == 5 && c.ClearFixes == 3 && c.OverspeedConfirmFixes == 4 && c.DefaultMaxSpeedKmh == 60.5 &&
				c.OfflineAfter == 90*time.Second && c.StopAfter == 10*time.Minute && c.FatigueDrive == 210*time.Minute &&
				c.FatigueRest == 15*time.Minute && c.Location == time.UTC
		}, ""},
		{"not a number", map[string]string{EnvClearFixes: "two"}, nil, EnvClearFixes},
		{"not a float", map[string]string{EnvDefaultMaxSpeedKmh: "fast"}, nil, EnvDefaultMaxSpeedKmh},
		{"not a duration", map[string]string{EnvOfflineAfter: "5"}, nil, EnvOfflineAfter},
		{"unknown zone", map[string]string{EnvTimezone: "Mars/Olympus"}, nil, EnvTimezone},
		{"invalid value", map[string]string{EnvDeviationConfirmFixes: "0"}, nil, EnvDeviationConfirmFixes},
		{"two errors", map[string]string{EnvStopAfter: "x", EnvFatigueRest: "y"}, nil, EnvFatigueRest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want one naming %s", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("wrong config %+v", c)
			}
		})
	}
}

func TestParseClock(t *testing.T) {
	tests := []struct {
		in   string
		min  int
		okay bool
	}{
		{"00:00", 0, true}, {"07:30", 450, true}, {"7:30", 450, true}, {"23:59", 1439, true}, {"24:00", 1440, true},
		{"24:01", 0, false}, {"25:00", 0, false}, {"12:60", 0, false}, {"", 0, false}, {"1200", 0, false},
		{"12:5", 0, false}, {"-1:00", 0, false}, {"12:00:00", 0, false}, {"ab:cd", 0, false}, {" 7:30", 0, false},
	}
	for _, tt := range tests {
		m, ok := ParseClock(tt.in)
		if ok != tt.okay || (ok && m != tt.min) {
			t.Errorf("ParseClock(%q) = %d, %v; want %d, %v", tt.in, m, ok, tt.min, tt.okay)
		}
	}
}

func TestApplies(t *testing.T) {
	sh := DefaultConfig().Location
	at := func(h, m, s int) time.Time { return time.Date(2026, 3, 2, h, m, s, 0, sh) }
	hours := func(from, to string) *tracking.ActiveHours { return &tracking.ActiveHours{From: from, To: to} }
	tests := []struct {
		name string
		h    *tracking.ActiveHours
		t    time.Time
		want bool
	}{
		{"no hours", nil, at(3, 0, 0), true},
		{"day window start", hours("07:00", "22:00"), at(7, 0, 0), true},
		{"day window before", hours("07:00", "22:00"), at(6, 59, 59), false},
		{"day window last second", hours("07:00", "22:00"), at(21, 59, 59), true},
		{"day window end excluded", hours("07:00", "22:00"), at(22, 0, 0), false},
		{"night window evening", hours("22:00", "06:00"), at(23, 0, 0), true},
		{"night window at from", hours("22:00", "06:00"), at(22, 0, 0), true},
		{"night window after midnight", hours("22:00", "06:00"), at(0, 0, 0), true},
		{"night window early morning", hours("22:00", "06:00"), at(5, 59, 59), true},
		{"night window closed at to", hours("22:00", "06:00"), at(6, 0, 0), false},
		{"night window midday", hours("22:00", "06:00"), at(12, 0, 0), false},
		{"from == to is all day", hours("08:00", "08:00"), at(3, 0, 0), true},
		{"00:00-24:00 is all day", hours("00:00", "24:00"), at(23, 59, 59), true},
		{"until midnight", hours("22:00", "24:00"), at(23, 59, 59), true},
		{"until midnight, not after", hours("22:00", "24:00"), at(0, 0, 1), false},
		{"invalid applies always", hours("soon", "later"), at(12, 0, 0), true},
		// 23:30 UTC is 07:30 the next day in Shanghai
		{"local time, not UTC", hours("07:00", "08:00"), time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC), true},
		{"local time, not UTC (outside)", hours("23:00", "23:59"), time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC), false},
	}
	for _, tt := range tests {
		if got := Applies(tt.h, tt.t, sh); got != tt.want {
			t.Errorf("%s: Applies(%v, %s) = %v, want %v", tt.name, tt.h, tt.t, got, tt.want)
		}
	}
	if err := ValidateActiveHours(hours("22:00", "06:00")); err != nil {
		t.Errorf("valid window rejected: %v", err)
	}
	if err := ValidateActiveHours(nil); err != nil {
		t.Errorf("nil window rejected: %v", err)
	}
	if err := ValidateActiveHours(hours("22:00", "6h")); err == nil || !strings.Contains(err.Error(), "active_hours.to") {
		t.Errorf("bad window: %v", err)
	}
	if err := ValidateActiveHours(hours("x", "06:00")); err == nil || !strings.Contains(err.Error(), "active_hours.from") {
		t.Errorf("bad window: %v", err)
	}
	if n := testing.AllocsPerRun(100, func() { Applies(hours("22:00", "06:00"), at(23, 0, 0), sh) }); n != 0 {
		t.Errorf("Applies allocates %v times", n)
	}
}
