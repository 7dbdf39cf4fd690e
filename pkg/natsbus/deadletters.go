package natsbus

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// RejectionsConsumer is the durable consumer on DEADLETTER that keeps vehicles' refused-fix
// records (CONTRACT §2 dead letters → vehicle_rejections).
const RejectionsConsumer = "corridor-rejections"

// StoredDeadLetter is a dead letter read back from DEADLETTER with the time it was stored.
type StoredDeadLetter struct {
	DeadLetter
	StoredAt time.Time
}

// ConsumeDeadLetters reads deadletter.telemetry with the durable consumer durable, in batches,
// and acknowledges each batch only after fn returned nil for it; a failing fn is retried with
// backoff (logged at WARN) until it succeeds or ctx ends, so nothing is skipped. Messages that
// are not dead letters are logged and skipped. It returns when ctx ends.
func (b *Bus) ConsumeDeadLetters(ctx context.Context, durable string, fn func(context.Context, []StoredDeadLetter) error) {
	backoff := func(d *time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(*d):
		}
		if *d < 5*time.Second {
			*d *= 2
		}
		return true
	}
	var cons jetstream.Consumer
	for wait := 200 * time.Millisecond; cons == nil; {
		var err error
		cons, err = b.JS.CreateOrUpdateConsumer(ctx, StreamDeadLetter, jetstream.ConsumerConfig{
			Durable:       durable,
			Description:   "corridor: vehicles' refused fixes (vehicle_rejections)",
			AckPolicy:     jetstream.AckAllPolicy,
			AckWait:       time.Minute,
			MaxAckPending: 10000,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			FilterSubject: SubjectDeadLetterTelemetry,
			MaxDeliver:    -1,
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			b.log.Warn("dead-letter consumer: cannot create; retrying", "err", err, "in", wait)
			if !backoff(&wait) {
				return
			}
		}
	}
	wait := 200 * time.Millisecond
	for ctx.Err() == nil {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			b.log.Warn("dead-letter consumer: fetch failed; retrying", "err", err, "in", wait)
			if !backoff(&wait) {
				return
			}
			continue
		}
		var last jetstream.Msg
		var dls []StoredDeadLetter
		for m := range batch.Messages() {
			last = m
			var d StoredDeadLetter
			if err := json.Unmarshal(m.Data(), &d.DeadLetter); err != nil {
				b.log.Warn("dead-letter consumer: not a dead letter; skipped", "subject", m.Subject(), "err", err)
				continue
			}
			if md, err := m.Metadata(); err == nil {
				d.StoredAt = md.Timestamp
			} else {
				d.StoredAt = time.Now()
			}
			dls = append(dls, d)
		}
		if last == nil {
			continue
		}
		for retry := 200 * time.Millisecond; len(dls) > 0; {
			err := fn(ctx, dls)
			if err == nil {
				break
			}
			b.log.Warn("dead-letter consumer: recording failed; retrying the batch", "err", err, "dead_letters", len(dls), "in", retry)
			if !backoff(&retry) {
				return
			}
		}
		if err := last.Ack(); err != nil {
			b.log.Warn("dead-letter consumer: ack failed (the batch will be recorded again)", "err", err)
		}
		wait = 200 * time.Millisecond
	}
}
