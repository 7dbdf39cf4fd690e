package natsbus

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamPos describes the TELEMETRY stream: when it was created (a recreated stream numbers its
// messages again from 1) and its first and last sequence.
type StreamPos struct {
	Created       time.Time
	First, Last   uint64
	ServerVersion string
	// Bucketed: the stream has the bucket transform (NATS ≥ 2.10), so new messages carry their
	// vehicle's bucket as a 4th subject token and consumers can filter by bucket.
	Bucketed bool
}

// TelemetryPos returns the TELEMETRY stream's identity and bounds.
func (b *Bus) TelemetryPos(ctx context.Context) (StreamPos, error) {
	s, err := b.JS.Stream(ctx, StreamTelemetry)
	if err != nil {
		return StreamPos{}, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return StreamPos{}, err
	}
	return StreamPos{Created: info.Created, First: info.State.FirstSeq, Last: info.State.LastSeq, ServerVersion: b.NC.ConnectedServerVersion(),
		Bucketed: info.Config.SubjectTransform != nil && info.Config.SubjectTransform.Destination == TelemetryTransform.Destination}, nil
}

// ConsumerFrom (re)creates the durable pull consumer name on TELEMETRY for filters so that it
// delivers from stream sequence start (from the beginning when start is 0). Only the holder of
// the partition's lease may call it: an existing consumer of that name is replaced.
func (b *Bus) ConsumerFrom(ctx context.Context, name string, filters []string, start uint64) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Durable:     name,
		Description: "corridor engine: validate, store, geofence, rules",
		// One engine (the partition's lease holder) processes the consumer's messages in stream
		// order, so acknowledging a batch's last message acknowledges the batch.
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 50000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxDeliver:    -1,
	}
	if len(filters) == 1 {
		cfg.FilterSubject = filters[0] // what NATS 2.9 understands
	} else {
		cfg.FilterSubjects = filters
	}
	if start > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = start
	}
	if err := b.JS.DeleteConsumer(ctx, StreamTelemetry, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, err
	}
	return b.JS.CreateConsumer(ctx, StreamTelemetry, cfg)
}

// AlarmMsg is one alarm event to store in ALARMS.
type AlarmMsg struct {
	Subject, MsgID string
	Payload        []byte
}

// PublishAlarmEvents stores alarm events in ALARMS asynchronously and waits for the acks; it
// returns how many, from the first, are stored (all of them unless err).
func (b *Bus) PublishAlarmEvents(ctx context.Context, ms []AlarmMsg) (int, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(ms))
	for _, m := range ms {
		f, err := b.JS.PublishMsgAsync(&nats.Msg{Subject: m.Subject, Data: m.Payload,
			Header: nats.Header{jetstream.MsgIDHeader: []string{m.MsgID}}})
		if err != nil {
			break
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return i, err
		case <-ctx.Done():
			return i, ctx.Err()
		}
	}
	if len(futures) < len(ms) {
		return len(futures), errors.New("NATS refused an alarm event")
	}
	return len(ms), nil
}
