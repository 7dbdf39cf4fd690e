package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Publisher takes fixes to the telemetry stream; *natsbus.Bus satisfies it.
type Publisher interface {
	PublishPositions(ctx context.Context, ps []tracking.Position) error
}

// RunOptions tune Run.
type RunOptions struct {
	Options
	// Backfill: fixes from up to this long ago are published too (never before a vehicle's
	// NotBefore): the history a simulator that was not running would have missed.
	Backfill time.Duration
	// Speedup is how many times faster than real time the backfill is replayed; 0 publishes it
	// at once. Fixes are never stamped ahead of the clock (the engine refuses fixes more than
	// 2 minutes in the future), so once caught up the fleet drives in real time.
	Speedup float64
	// Batch is the most fixes per PublishPositions call (default 500).
	Batch int
	Log   *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Published, when set, is called after every successful publication with its fixes.
	Published func([]tracking.Position)
}

// Run publishes the fleet's fixes through pub as the clock advances, until ctx ends (then it
// returns nil). A failed publication is retried a few times and then dropped with a warning:
// a simulated truck's lost fixes are a lost signal, not a reason to stop the fleet.
func Run(ctx context.Context, pub Publisher, fleet Fleet, o RunOptions) error {
	if o.Speedup < 0 || (o.Speedup > 0 && o.Speedup < 1) {
		return fmt.Errorf("speedup %v: must be 0 (at once) or at least 1", o.Speedup)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	wall0 := o.Now()
	from := wall0.Add(-o.Backfill)
	f := Fleet{Vehicles: make([]VehicleSpec, len(fleet.Vehicles))}
	for i, v := range fleet.Vehicles {
		if v.NotBefore.Before(from) {
			v.NotBefore = from
		}
		f.Vehicles[i] = v
	}
	// The replay starts at the first fix due: nothing to wait for before it.
	if e := earliest(f); e.After(from) {
		from = e
		if from.After(wall0) {
			from = wall0
		}
	}
	s := NewSim(f, o.Options)
	if s.Len() == 0 {
		return errors.New("no vehicle to simulate")
	}
	o.Log.Info("simulated fleet driving", "vehicles", s.Len(), "interval", s.opts.Interval.String(),
		"backfill", o.Backfill.String(), "speedup", o.Speedup)
	caughtUp := o.Backfill <= 0
	var sent, dropped int64
	for ctx.Err() == nil {
		wall := o.Now()
		simNow := wall
		if o.Speedup >= 1 && !caughtUp {
			if t := from.Add(time.Duration(float64(wall.Sub(wall0)) * o.Speedup)); t.Before(wall) {
				simNow = t
			}
		}
		announce := false
		if !caughtUp && !simNow.Before(wall) {
			caughtUp, announce = true, true
		}
		fixes := s.Step(simNow)
		for len(fixes) > 0 && ctx.Err() == nil {
			n := min(len(fixes), o.Batch)
			if err := publish(ctx, pub, fixes[:n]); err != nil {
				if ctx.Err() != nil {
					break
				}
				dropped += int64(n)
				o.Log.Warn("simulator: fixes dropped", "fixes", n, "err", err, "dropped_total", dropped)
			} else {
				sent += int64(n)
				if o.Published != nil {
					o.Published(fixes[:n])
				}
			}
			fixes = fixes[n:]
		}
		if announce {
			o.Log.Info("simulated fleet caught up; driving in real time", "fixes", sent)
		}
		// Sleep until the next fix is due (at most 1 s; 20 ms while replaying).
		wait := time.Second
		if !caughtUp && o.Speedup >= 1 {
			wait = 20 * time.Millisecond
		} else if d := s.Next().Sub(o.Now()); d < wait {
			wait = max(d, 5*time.Millisecond)
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	o.Log.Info("simulated fleet stopped", "fixes", sent, "dropped", dropped)
	return nil
}

func publish(ctx context.Context, pub Publisher, fixes []tracking.Position) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = pub.PublishPositions(ctx, fixes); err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(200*(attempt+1)) * time.Millisecond):
		}
	}
	return err
}

// LoadOptions tune Load.
type LoadOptions struct {
	Options
	// Duration of the run (default 10 s).
	Duration time.Duration
	// Workers publishing concurrently (default 8); each drives its own share of the vehicles,
	// so every vehicle's fixes stay in order.
	Workers int
	// Batch is the fixes per PublishPositions call (default 1000).
	Batch int
	Now   func() time.Time
}

// LoadResult is what a load run achieved.
type LoadResult struct {
	Vehicles int
	Fixes    int64 // acknowledged by the publisher
	Elapsed  time.Duration
	// CaughtUp: the fleet reached the present and was then limited to real time.
	CaughtUp bool
}

// PerSecond is the achieved rate.
func (r LoadResult) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Fixes) / r.Elapsed.Seconds()
}

// Load publishes the fleet's fixes as fast as pub takes them for the duration: each vehicle
// from its NotBefore onwards, its history replayed without pause (never past the present).
func Load(ctx context.Context, pub Publisher, fleet Fleet, o LoadOptions) (LoadResult, error) {
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	opts := o.Options.withDefaults()
	parts := make([]Fleet, o.Workers)
	for i, v := range fleet.Vehicles {
		parts[i%o.Workers].Vehicles = append(parts[i%o.Workers].Vehicles, v)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var fixes atomic.Int64
	var caught atomic.Bool
	var firstErr error
	var mu sync.Mutex
	start := o.Now()
	var wg sync.WaitGroup
	for _, part := range parts {
		if len(part.Vehicles) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := NewSim(part, opts)
			// advance the sim clock by enough to make about one batch per step
			chunk := opts.Interval * time.Duration(max(1, o.Batch/len(part.Vehicles)))
			simNow := earliest(part)
			for ctx.Err() == nil {
				simNow = simNow.Add(chunk)
				if now := o.Now(); simNow.After(now) {
					simNow = now
					caught.Store(true)
				}
				batch := s.Step(simNow)
				for len(batch) > 0 && ctx.Err() == nil {
					n := min(len(batch), o.Batch)
					if err := pub.PublishPositions(ctx, batch[:n]); err != nil {
						if ctx.Err() == nil {
							mu.Lock()
							if firstErr == nil {
								firstErr = err
							}
							mu.Unlock()
							cancel()
						}
						return
					}
					fixes.Add(int64(n))
					batch = batch[n:]
				}
				if caught.Load() {
					select {
					case <-ctx.Done():
					case <-time.After(100 * time.Millisecond):
					}
				}
			}
		}()
	}
	wg.Wait()
	res := LoadResult{Vehicles: len(fleet.Vehicles), Fixes: fixes.Load(), Elapsed: o.Now().Sub(start), CaughtUp: caught.Load()}
	return res, firstErr
}

func earliest(f Fleet) time.Time {
	var t time.Time
	for _, v := range f.Vehicles {
		nb := v.NotBefore
		if nb.Before(v.Start) {
			nb = v.Start
		}
		if t.IsZero() || nb.Before(t) {
			t = nb
		}
	}
	return t
}
