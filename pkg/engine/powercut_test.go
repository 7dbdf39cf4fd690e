package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// TestStreamThatLostItsTail: a NATS server that loses the end of TELEMETRY (a power cut before
// it synced its files) numbers new messages with sequences the engine had already passed. The
// engine notices that the stream ends before its position, says so, and consumes what comes next
// as new (it used to skip it as already processed: silently lost fixes).
func TestStreamThatLostItsTail(t *testing.T) {
	ctx := context.Background()
	port, dir := freePort(t), t.TempDir()
	start := func() func() {
		ns, err := natsbus.StartEmbedded("127.0.0.1:"+strconv.Itoa(port), dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		return func() { ns.Shutdown(); ns.WaitForShutdown() }
	}
	stopNATS := start()
	bus, err := natsbus.Connect(ctx, "nats://127.0.0.1:"+strconv.Itoa(port), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	if err := bus.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: pgtest.New(t), bus: bus}
	e.seed()
	e.start()
	t0 := time.Now().Add(-30 * time.Minute).Truncate(time.Second)
	var first []tracking.Position
	for i := range 40 {
		first = append(first, fix(t0.Add(time.Duration(i)*10*time.Second), 107.001+float64(i)*0.0005, 29.8001))
	}
	e.publish(first...)
	waitFor(t, 15*time.Second, "40 fixes stored", func() bool { return e.positions() == 40 })
	e.stop()
	before, err := bus.TelemetryPos(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// The power cut: the end of the stream's message file never reached the disk.
	stopNATS()
	msgs := filepath.Join(dir, "jetstream", "$G", "streams", natsbus.StreamTelemetry, "msgs")
	blks, _ := filepath.Glob(filepath.Join(msgs, "*.blk"))
	if len(blks) != 1 {
		t.Fatalf("message blocks %v", blks)
	}
	st, err := os.Stat(blks[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(blks[0], st.Size()/2); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(filepath.Join(msgs, "index.db"))
	defer start()()
	var after natsbus.StreamPos
	waitFor(t, 15*time.Second, "the stream back, shorter", func() bool {
		after, err = bus.TelemetryPos(ctx)
		return err == nil
	})
	if after.Last >= before.Last {
		t.Fatalf("the stream did not lose its tail: last seq %d, before %d", after.Last, before.Last)
	}
	t.Logf("stream last seq %d before the cut, %d after", before.Last, after.Last)

	// New fixes arrive before the engine is back: their sequences are ones it had passed.
	var next []tracking.Position
	for i := range 10 {
		next = append(next, fix(t0.Add(time.Duration(400+i*10)*time.Second), 107.03+float64(i)*0.0005, 29.8001))
	}
	e.publish(next...)
	e.start()
	defer func() {
		if t.Failed() {
			sp, _ := bus.TelemetryPos(ctx)
			var lo, hi int64
			_ = e.db.Pool.QueryRow(ctx, `select min(checkpoint_seq), max(committed_seq) from engine_buckets`).Scan(&lo, &hi)
			t.Logf("positions %d stream %+v buckets ckpt %d committed %d ready %v", e.positions(), sp, lo, hi, e.eng.Ready())
		}
	}()
	waitFor(t, 15*time.Second, "the 10 new fixes stored", func() bool { return e.positions() == 50 })
}
