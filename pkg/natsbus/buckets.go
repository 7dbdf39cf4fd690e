package natsbus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Buckets is the fixed number of vehicle buckets of TELEMETRY: on NATS ≥ 2.10 the stream's
// subject transform stores telemetry.<carrier>.<vehicle> as telemetry.<carrier>.<vehicle>.<bucket>
// with bucket = Bucket(vehicle). It never changes, so stored subjects never need migrating; engine
// partitions are sets of buckets.
const Buckets = 64

// TelemetryTransform is the TELEMETRY stream's subject transform (NATS ≥ 2.10): the bucket is
// the hash of the vehicle token only.
var TelemetryTransform = jetstream.SubjectTransformConfig{
	Source:      "telemetry.*.*",
	Destination: "telemetry.{{wildcard(1)}}.{{wildcard(2)}}.{{partition(" + strconv.Itoa(Buckets) + ",2)}}",
}

// Bucket is the bucket of a vehicle as nats-server's partition() computes it: FNV-1a 32 of the
// vehicle id's bytes, modulo Buckets.
func Bucket(vehicleID string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(vehicleID))
	return int(h.Sum32() % Buckets)
}

// BucketFilter is the consumer filter subject of one bucket.
func BucketFilter(b int) string { return "telemetry.*.*." + strconv.Itoa(b) }

// SupportsTransforms reports whether a nats-server version ("2.10.4", "v2.9.10") has stream
// subject transforms (2.10 and later).
func SupportsTransforms(version string) bool {
	v := strings.TrimPrefix(strings.TrimSpace(version), "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	minorDigits, _, _ := strings.Cut(parts[1], "-")
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(minorDigits)
	if err1 != nil || err2 != nil {
		return false
	}
	return major > 2 || (major == 2 && minor >= 10)
}

// LegacyTelemetryLastSeq returns the stream sequence of the last message stored with its
// 3-token subject (telemetry.<carrier>.<vehicle>: stored before the transform existed, or on a
// server without it); 0 when there is none.
func (b *Bus) LegacyTelemetryLastSeq(ctx context.Context) (uint64, error) {
	s, err := b.JS.Stream(ctx, StreamTelemetry)
	if err != nil {
		return 0, err
	}
	m, err := s.GetLastMsgForSubject(ctx, "telemetry.*.*")
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last 3-token telemetry message: %w", err)
	}
	return m.Sequence, nil
}
