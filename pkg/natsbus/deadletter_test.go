package natsbus_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/corridor-dev/corridor/pkg/natsbus"
)

// A dead letter of an input near the connection's max payload (1 MB by default) must still be
// publishable: the payload is cut to natsbus.MaxDeadLetterPayload and the original's size and
// SHA-256 are kept. Before, its base64 outgrew the max payload and the engine retried forever.
func TestDeadLetterOfHugeInputFits(t *testing.T) {
	bus := start(t)
	ctx := context.Background()
	if mp := bus.NC.MaxPayload(); mp != 1<<20 {
		t.Fatalf("server max payload %d, this test assumes the default 1 MiB", mp)
	}
	huge := bytes.Repeat([]byte("not json \x00\xff"), 900_000/11+1)[:900_000]
	small := []byte("{x")
	dls := []natsbus.DeadLetter{
		natsbus.NewDeadLetter("malformed_json", "invalid character", "telemetry.c.v", huge),
		natsbus.NewDeadLetter("malformed_json", "bad", "telemetry.c.v", small),
	}
	if err := bus.PublishDeadLetters(ctx, dls); err != nil {
		t.Fatalf("publishing the dead letter of a 900 kB input: %v", err)
	}
	s, err := bus.JS.Stream(ctx, natsbus.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	for i, orig := range [][]byte{huge, small} {
		msg, err := s.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		var dl natsbus.DeadLetter
		if err := json.Unmarshal(msg.Data, &dl); err != nil {
			t.Fatal(err)
		}
		got, err := base64.StdEncoding.DecodeString(dl.Payload)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(orig)
		wantLen, wantTrunc := len(orig), false
		if len(orig) > natsbus.MaxDeadLetterPayload {
			wantLen, wantTrunc = natsbus.MaxDeadLetterPayload, true
		}
		if !bytes.Equal(got, orig[:wantLen]) || dl.Truncated != wantTrunc || dl.PayloadSize != len(orig) ||
			dl.PayloadSHA256 != hex.EncodeToString(sum[:]) || dl.Reason != "malformed_json" || dl.Subject != "telemetry.c.v" {
			t.Fatalf("dead letter %d: payload %d bytes (want %d), truncated %v, size %d, sha %s",
				i, len(got), wantLen, dl.Truncated, dl.PayloadSize, dl.PayloadSHA256)
		}
	}
}

// A dead letter built by hand with a payload or detail bigger than the server takes is cut in
// PublishDeadLetters too, never refused.
func TestDeadLetterBuiltByHandIsCutToFit(t *testing.T) {
	bus := start(t)
	ctx := context.Background()
	raw := bytes.Repeat([]byte{0xfe}, 1_000_000)
	dl := natsbus.DeadLetter{Reason: "invalid_field", Detail: string(bytes.Repeat([]byte("é"), 600_000)),
		Subject: "telemetry.c.v", Payload: base64.StdEncoding.EncodeToString(raw)}
	if err := bus.PublishDeadLetters(ctx, []natsbus.DeadLetter{dl}); err != nil {
		t.Fatalf("publishing an oversized hand-made dead letter: %v", err)
	}
	s, _ := bus.JS.Stream(ctx, natsbus.StreamDeadLetter)
	msg, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got natsbus.DeadLetter
	if err := json.Unmarshal(msg.Data, &got); err != nil {
		t.Fatal(err)
	}
	p, _ := base64.StdEncoding.DecodeString(got.Payload)
	sum := sha256.Sum256(raw)
	if !got.Truncated || got.PayloadSize != len(raw) || got.PayloadSHA256 != hex.EncodeToString(sum[:]) ||
		len(p) > natsbus.MaxDeadLetterPayload || !bytes.Equal(p, raw[:len(p)]) || len(got.Detail) > 4096 {
		t.Fatalf("truncated %v size %d payload %d detail %d", got.Truncated, got.PayloadSize, len(p), len(got.Detail))
	}
}
