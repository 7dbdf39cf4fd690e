package natsbus_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/corridor-dev/corridor/internal/natstest"
	"github.com/corridor-dev/corridor/pkg/natsbus"
)

// TestBucketMatchesServer publishes to telemetry.<carrier>.<vehicle> on a real embedded server
// and checks that the stream stored each message with the 4th token natsbus.Bucket computes.
func TestBucketMatchesServer(t *testing.T) {
	bus := natstest.New(t)
	ctx := context.Background()
	ids := []string{"v1", "v0", "V-42", "truck_0007", "a", "渝A·D1234", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	for i := 0; i < 200; i++ {
		ids = append(ids, fmt.Sprintf("v%d", i*37))
	}
	seen := map[int]bool{}
	for i, id := range ids {
		subj := "telemetry.c1." + id
		if _, err := bus.JS.PublishMsg(ctx, &nats.Msg{Subject: subj, Data: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
		s, err := bus.JS.Stream(ctx, natsbus.StreamTelemetry)
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		tok, ok := strings.CutPrefix(m.Subject, subj+".")
		if !ok {
			t.Fatalf("stored subject %q, want %s.<bucket>", m.Subject, subj)
		}
		b, err := strconv.Atoi(tok)
		if err != nil || b != natsbus.Bucket(id) {
			t.Errorf("vehicle %q: server bucket %q, natsbus.Bucket %d", id, tok, natsbus.Bucket(id))
		}
		seen[b] = true
	}
	if len(seen) < natsbus.Buckets/2 {
		t.Errorf("%d vehicles fell in only %d buckets", len(ids), len(seen))
	}
	pos, err := bus.TelemetryPos(ctx)
	if err != nil || !pos.Bucketed {
		t.Fatalf("TelemetryPos: %+v, %v; want bucketed", pos, err)
	}
	if n, err := bus.LegacyTelemetryLastSeq(ctx); err != nil || n != 0 {
		t.Fatalf("LegacyTelemetryLastSeq = %d, %v; want 0 (every message has its bucket)", n, err)
	}
}

func TestSupportsTransforms(t *testing.T) {
	for v, want := range map[string]bool{"2.9.10": false, "v2.9.25": false, "2.10.0": true, "2.15.3": true, "2.10.0-beta.1": true,
		"3.0.0": true, "": false, "junk": false, "2.x": false} {
		if got := natsbus.SupportsTransforms(v); got != want {
			t.Errorf("SupportsTransforms(%q) = %v, want %v", v, got, want)
		}
	}
}
