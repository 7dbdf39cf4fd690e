package engine

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/postgres"
)

// runOutbox publishes stored alarm events to ALARMS: after each commit that wrote some, on the
// database's notification (changes made by the API), and every second as a safety net.
func (e *Engine) runOutbox(ctx context.Context) {
	RunOutbox(ctx, e.db, e.bus, e.log, e.kick)
}

// RunOutbox publishes alarm events from the database outbox to NATS until ctx ends. Any process
// that changes alarms runs one (the engine does; an API-only process must too).
func RunOutbox(ctx context.Context, db *postgres.DB, bus *natsbus.Bus, log *slog.Logger, kick chan struct{}) {
	if kick == nil {
		kick = make(chan struct{}, 1)
	}
	wake := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	listening := make(chan struct{})
	defer func() { <-listening }()
	go func() {
		defer close(listening)
		db.Listen(ctx, []string{"alarm_events"}, func(context.Context) { wake() }, func(_, _ string) { wake() })
	}()
	publish := func(ctx context.Context, evs []postgres.PendingAlarmEvent) (int, error) {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ms := make([]natsbus.AlarmMsg, len(evs))
		for i, ev := range evs {
			ms[i] = natsbus.AlarmMsg{Subject: ev.Subject, MsgID: fmt.Sprintf("alarm-event-%d", ev.ID), Payload: ev.Payload}
		}
		return bus.PublishAlarmEvents(pctx, ms)
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		for {
			n, err := db.PublishPendingAlarmEventBatch(context.WithoutCancel(ctx), 2000, publish)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("outbox: publish", "err", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
	}
}
