package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/corridor-dev/corridor/pkg/escalate"
	"github.com/corridor-dev/corridor/pkg/postgres"
)

// SupervisionConfig is the configuration of alarm escalation and compliance reports (issue 11).
type SupervisionConfig struct {
	// EscalateAfter is CORRIDOR_ESCALATE_AFTER (default 5m; "off" disables escalation: 0).
	EscalateAfter time.Duration
	// ReportInterval is CORRIDOR_REPORT_INTERVAL (default 30s): the expected report interval of a
	// vehicle on a trip, the unit of track completeness.
	ReportInterval time.Duration
	// ReportRefresh is CORRIDOR_REPORT_REFRESH (default 5m): how old the current day's report may
	// be before a request recomputes it.
	ReportRefresh time.Duration
}

// loadSupervisionConfig reads the supervision variables, appending one error per bad one.
func loadSupervisionConfig(env func(k, def string) string, errs []error) (SupervisionConfig, []error) {
	var c SupervisionConfig
	dur := func(name, def string, lo, hi time.Duration, off bool) time.Duration {
		v := env(name, def)
		if off && strings.EqualFold(v, "off") {
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi {
			hint := ""
			if off {
				hint = ", or off"
			}
			errs = append(errs, fmt.Errorf("%s: %q is not a duration from %s to %s%s", name, v, lo, hi, hint))
			return 0
		}
		return d
	}
	c.EscalateAfter = dur("CORRIDOR_ESCALATE_AFTER", "5m", time.Second, 7*24*time.Hour, true)
	c.ReportInterval = dur("CORRIDOR_REPORT_INTERVAL", "30s", time.Second, time.Hour, false)
	c.ReportRefresh = dur("CORRIDOR_REPORT_REFRESH", "5m", 0, 24*time.Hour, false)
	return c, errs
}

// startEscalation runs the escalation loop (engine role) unless CORRIDOR_ESCALATE_AFTER is off.
// Its events go out through the alarm outbox the engine publishes.
func (a *app) startEscalation(ctx context.Context, goRun func(string, func() error)) {
	if a.cfg.Supervision.EscalateAfter <= 0 {
		a.log.Info("alarm escalation is off (CORRIDOR_ESCALATE_AFTER=off)")
		return
	}
	esc := escalate.New(escalate.Config{After: a.cfg.Supervision.EscalateAfter, Log: a.log.With("role", "escalation"),
		Metrics: a.reg}, a.db)
	goRun("escalation", func() error { esc.Run(ctx); return nil })
}

// reportStore is the compliance reports over the database, in the rules' time zone.
func (a *app) reportStore() *postgres.Reports {
	return a.db.Reports(postgres.ReportConfig{
		Location: a.cfg.Rules.Location,
		Interval: a.cfg.Supervision.ReportInterval,
		Refresh:  a.cfg.Supervision.ReportRefresh,
	})
}
