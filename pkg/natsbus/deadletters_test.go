package natsbus_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/waitfor"
	"github.com/corridor-dev/corridor/pkg/natsbus"
)

// The dead-letter consumer hands over every dead letter with its stored time, retries a batch
// whose handler failed (nothing skipped), and after a restart resumes after what it acknowledged.
func TestConsumeDeadLetters(t *testing.T) {
	bus := start(t)
	ctx := context.Background()
	publish := func(reasons ...string) {
		t.Helper()
		var dls []natsbus.DeadLetter
		for _, r := range reasons {
			dls = append(dls, natsbus.NewDeadLetter(r, "d", "telemetry.c1.v1", []byte("{}")))
		}
		if err := bus.PublishDeadLetters(ctx, dls); err != nil {
			t.Fatal(err)
		}
	}
	publish("stale_fix", "future_fix")

	var mu sync.Mutex
	var got []natsbus.StoredDeadLetter
	failures := 1
	run := func() (stop func()) {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			bus.ConsumeDeadLetters(cctx, "test-rejections", func(_ context.Context, dls []natsbus.StoredDeadLetter) error {
				mu.Lock()
				defer mu.Unlock()
				if failures > 0 {
					failures--
					return errors.New("database down")
				}
				got = append(got, dls...)
				return nil
			})
		}()
		return func() { cancel(); <-done }
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(got)
	}
	stop := run()
	waitDeadLetters(t, "two dead letters after a failed attempt", func() bool { return count() == 2 })
	stop()
	mu.Lock()
	if got[0].Reason != "stale_fix" || got[1].Reason != "future_fix" || got[0].Subject != "telemetry.c1.v1" ||
		time.Since(got[0].StoredAt) > time.Minute {
		t.Errorf("got %+v", got)
	}
	mu.Unlock()
	publish("carrier_mismatch")
	stop = run()
	defer stop()
	waitDeadLetters(t, "the third, once", func() bool { return count() == 3 })
	waitDeadLetters(t, "everything acknowledged", func() bool {
		c, err := bus.JS.Consumer(ctx, natsbus.StreamDeadLetter, "test-rejections")
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
	if n := count(); n != 3 {
		t.Errorf("%d dead letters handed over, want 3", n)
	}
}

func waitDeadLetters(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.For(t, 30*time.Second, what, cond)
}
