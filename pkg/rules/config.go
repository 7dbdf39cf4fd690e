package rules

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Config holds the rule parameters of CONTRACT §1 and §4.
type Config struct {
	DeviationConfirmFixes int            // CORRIDOR_DEVIATION_CONFIRM_FIXES: consecutive off-corridor fixes that raise route_deviation
	ClearFixes            int            // CORRIDOR_CLEAR_FIXES: consecutive compliant fixes that clear an active alarm
	OverspeedConfirmFixes int            // CORRIDOR_OVERSPEED_CONFIRM_FIXES: consecutive over-limit fixes that raise overspeed
	DefaultMaxSpeedKmh    float64        // CORRIDOR_DEFAULT_MAX_SPEED_KMH: limit where the trip's corridor sets none
	OfflineAfter          time.Duration  // CORRIDOR_OFFLINE_AFTER: silence (server clock) that raises signal_lost
	StopAfter             time.Duration  // CORRIDOR_STOP_AFTER: stop length (fix time) that raises unauthorized_stop
	FatigueDrive          time.Duration  // CORRIDOR_FATIGUE_DRIVE: continuous driving (fix time) that raises fatigue_driving
	FatigueRest           time.Duration  // CORRIDOR_FATIGUE_REST: the stop that resets the driving time and clears fatigue_driving
	Location              *time.Location // CORRIDOR_TIMEZONE: local time of zone active_hours
}

// Environment variables read by ConfigFromEnv (CONTRACT §1).
const (
	EnvDeviationConfirmFixes = "CORRIDOR_DEVIATION_CONFIRM_FIXES"
	EnvClearFixes            = "CORRIDOR_CLEAR_FIXES"
	EnvOverspeedConfirmFixes = "CORRIDOR_OVERSPEED_CONFIRM_FIXES"
	EnvDefaultMaxSpeedKmh    = "CORRIDOR_DEFAULT_MAX_SPEED_KMH"
	EnvOfflineAfter          = "CORRIDOR_OFFLINE_AFTER"
	EnvStopAfter             = "CORRIDOR_STOP_AFTER"
	EnvFatigueDrive          = "CORRIDOR_FATIGUE_DRIVE"
	EnvFatigueRest           = "CORRIDOR_FATIGUE_REST"
	EnvTimezone              = "CORRIDOR_TIMEZONE"
)

// DefaultTimezone is the default of CORRIDOR_TIMEZONE.
const DefaultTimezone = "Asia/Shanghai"

// DefaultConfig returns the defaults of CONTRACT §1. When the system has no time zone database,
// Location falls back to a fixed UTC+8 zone, which is what Asia/Shanghai has been since 1991.
func DefaultConfig() Config {
	loc, err := time.LoadLocation(DefaultTimezone)
	if err != nil {
		loc = time.FixedZone("CST", 8*3600)
	}
	return Config{
		DeviationConfirmFixes: 3,
		ClearFixes:            2,
		OverspeedConfirmFixes: 3,
		DefaultMaxSpeedKmh:    80,
		OfflineAfter:          5 * time.Minute,
		StopAfter:             15 * time.Minute,
		FatigueDrive:          4 * time.Hour,
		FatigueRest:           20 * time.Minute,
		Location:              loc,
	}
}

// Validate reports every invalid parameter, each named by its environment variable.
func (c Config) Validate() error {
	var errs []error
	count := func(env string, n int) {
		if n < 1 {
			errs = append(errs, fmt.Errorf("%s: must be at least 1, got %d", env, n))
		}
	}
	dur := func(env string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be a positive duration, got %s", env, d))
		}
	}
	count(EnvDeviationConfirmFixes, c.DeviationConfirmFixes)
	count(EnvClearFixes, c.ClearFixes)
	count(EnvOverspeedConfirmFixes, c.OverspeedConfirmFixes)
	if !(c.DefaultMaxSpeedKmh > 0) || math.IsInf(c.DefaultMaxSpeedKmh, 0) {
		errs = append(errs, fmt.Errorf("%s: must be a positive number of km/h, got %v", EnvDefaultMaxSpeedKmh, c.DefaultMaxSpeedKmh))
	}
	dur(EnvOfflineAfter, c.OfflineAfter)
	dur(EnvStopAfter, c.StopAfter)
	dur(EnvFatigueDrive, c.FatigueDrive)
	dur(EnvFatigueRest, c.FatigueRest)
	if c.Location == nil {
		errs = append(errs, fmt.Errorf("%s: no time zone", EnvTimezone))
	}
	return errors.Join(errs...)
}

// ConfigFromEnv reads the rule parameters from environment variables through getenv (os.Getenv
// in production); an unset or empty variable keeps its default. The result is validated.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	var errs []error
	intVar := func(env string, dst *int) {
		if v := strings.TrimSpace(getenv(env)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not a whole number", env, v))
				return
			}
			*dst = n
		}
	}
	durVar := func(env string, dst *time.Duration) {
		if v := strings.TrimSpace(getenv(env)); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is not a duration such as 5m or 1h30m", env, v))
				return
			}
			*dst = d
		}
	}
	intVar(EnvDeviationConfirmFixes, &c.DeviationConfirmFixes)
	intVar(EnvClearFixes, &c.ClearFixes)
	intVar(EnvOverspeedConfirmFixes, &c.OverspeedConfirmFixes)
	if v := strings.TrimSpace(getenv(EnvDefaultMaxSpeedKmh)); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a number", EnvDefaultMaxSpeedKmh, v))
		} else {
			c.DefaultMaxSpeedKmh = f
		}
	}
	durVar(EnvOfflineAfter, &c.OfflineAfter)
	durVar(EnvStopAfter, &c.StopAfter)
	durVar(EnvFatigueDrive, &c.FatigueDrive)
	durVar(EnvFatigueRest, &c.FatigueRest)
	if v := strings.TrimSpace(getenv(EnvTimezone)); v != "" {
		loc, err := time.LoadLocation(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: unknown time zone %q", EnvTimezone, v))
		} else {
			c.Location = loc
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}
