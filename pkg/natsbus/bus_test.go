package natsbus_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/corridor-dev/corridor/internal/natstest"
	"github.com/corridor-dev/corridor/pkg/natsbus"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

func start(t *testing.T) *natsbus.Bus {
	t.Helper()
	bus := natstest.New(t) // creates the streams once
	if err := bus.EnsureStreams(context.Background()); err != nil {
		t.Fatalf("EnsureStreams is not idempotent: %v", err)
	}
	return bus
}

func TestPublishPositionsDeduplicates(t *testing.T) {
	bus := start(t)
	ctx := context.Background()
	ts := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	ps := []tracking.Position{
		{VehicleID: "v1", CarrierID: "c1", TS: ts, Lat: 29.8, Lon: 107.0},
		{VehicleID: "v1", CarrierID: "c1", TS: ts.Add(time.Second), Lat: 29.8, Lon: 107.0},
	}
	if err := bus.PublishPositions(ctx, ps); err != nil {
		t.Fatal(err)
	}
	if err := bus.PublishPositions(ctx, ps[:1]); err != nil { // same vehicle and ts again
		t.Fatal(err)
	}
	s, err := bus.JS.Stream(ctx, natsbus.StreamTelemetry)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("stream holds %d messages, want 2 (duplicate must be dropped)", info.State.Msgs)
	}
	msg, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Stored with the vehicle's bucket as a 4th token (the stream's subject transform).
	if msg.Subject != "telemetry.c1.v1."+itoa(int64(natsbus.Bucket("v1"))) || msg.Header.Get(jetstream.MsgIDHeader) != "v1:"+itoa(ts.UnixNano()) {
		t.Fatalf("subject %q msg id %q", msg.Subject, msg.Header.Get(jetstream.MsgIDHeader))
	}
}

func TestDeadLetterShape(t *testing.T) {
	bus := start(t)
	ctx := context.Background()
	if err := bus.PublishDeadLetters(ctx, []natsbus.DeadLetter{natsbus.NewDeadLetter("malformed_json", "bad", "telemetry.c.v", []byte("{x"))}); err != nil {
		t.Fatal(err)
	}
	s, _ := bus.JS.Stream(ctx, natsbus.StreamDeadLetter)
	msg, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var dl map[string]any
	if err := json.Unmarshal(msg.Data, &dl); err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "deadletter.telemetry" || dl["reason"] != "malformed_json" || dl["payload"] != "e3g=" || dl["subject"] != "telemetry.c.v" ||
		dl["payload_size"] != 2.0 || dl["truncated"] != false || dl["payload_sha256"] != "3e6ef57cd8daf6802e79223289e4499933f1ad71404b27959cf86d022522220b" {
		t.Fatalf("dead letter %s %v", msg.Subject, dl)
	}
}

func TestEmbeddedPortTaken(t *testing.T) {
	ns, err := natsbus.StartEmbedded("127.0.0.1:0", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	addr := ns.Addr().String()
	if _, err := natsbus.StartEmbedded(addr, t.TempDir(), nil); err == nil {
		t.Fatal("second server on a taken port started")
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
