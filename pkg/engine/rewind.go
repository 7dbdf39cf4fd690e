package engine

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/corridor-dev/corridor/pkg/natsbus"
)

// advance records that the partition reflects the stream up to message m, with the stream's
// time of m (what checkStream compares later).
func (p *partition) advance(m jetstream.Msg) {
	if md, err := m.Metadata(); err == nil && md.Sequence.Stream > p.seq {
		p.seq, p.seqAt = md.Sequence.Stream, md.Timestamp
	}
}

// checkStream handles a server that lost the end of TELEMETRY after acknowledging it (a power
// cut before its files were synced): the sequences after its new end number new messages, which
// the partition's position (or a bucket's restored checkpoint) would otherwise skip as already
// processed. A position whose message is gone, or is now another message (another stream
// time), was written anew: the partition goes back to the first message newer than the one it
// had processed there, and its buckets' stored positions with it. Messages before that point are
// the ones it processed, and a replay of them writes nothing twice.
func (e *Engine) checkStream(ctx context.Context, p *partition, sp natsbus.StreamPos) error {
	type pos struct {
		seq uint64
		at  time.Time
	}
	check := []pos{{p.seq, p.seqAt}}
	for _, b := range p.spec.buckets {
		if p.floor[b] > p.seq || p.floor[b] == p.seq && p.seqAt.IsZero() {
			check = append(check, pos{p.floor[b], p.floorAt[b]})
		}
	}
	var s jetstream.Stream
	back, backAt, rewritten := uint64(0), time.Time{}, false
	for _, c := range check {
		if c.seq == 0 || c.seq < sp.First {
			continue // nothing processed yet, or no longer in the stream (retention)
		}
		if s == nil {
			var err error
			if s, err = e.bus.JS.Stream(ctx, natsbus.StreamTelemetry); err != nil {
				return err
			}
		}
		to, toAt, ok, err := writtenAnew(ctx, s, sp, c.seq, c.at)
		if err != nil {
			return err
		}
		if ok && (!rewritten || to < back) {
			back, backAt, rewritten = to, toAt, true
		}
	}
	if !rewritten {
		return nil
	}
	from := p.seq
	for _, b := range p.spec.buckets {
		if p.floor[b] > back {
			from = max(from, p.floor[b])
			p.floor[b], p.floorAt[b] = back, backAt
		}
	}
	if p.seq > back {
		p.seq, p.seqAt = back, backAt
	}
	e.metrics.streamRewinds.Inc()
	e.log.Error("engine: TELEMETRY was written anew after the engine's position: the NATS server lost messages it had acknowledged (a power cut before it synced?); consuming what follows as new",
		"partition", p.spec.k, "engine_seq", from, "consuming_from_seq", back+1, "stream_last_seq", sp.Last)
	return e.store.RewindBuckets(ctx, p.spec.buckets, p.created, back, backAt, p.fence)
}

// writtenAnew reports whether the message the engine processed at seq (stream time at; zero when
// unknown) is gone or replaced; if so, to is the last sequence before the stream's new messages
// (those newer than at), with its time.
func writtenAnew(ctx context.Context, s jetstream.Stream, sp natsbus.StreamPos, seq uint64, at time.Time) (to uint64, toAt time.Time, ok bool, err error) {
	if seq <= sp.Last {
		if at.IsZero() {
			return 0, time.Time{}, false, nil // unknown: nothing to compare (positions from before stream times were kept)
		}
		m, err := s.GetMsg(ctx, seq)
		if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, time.Time{}, false, err
		}
		if err == nil && streamTime(m.Time).Equal(streamTime(at)) {
			return 0, time.Time{}, false, nil // the same message
		}
	}
	if at.IsZero() {
		return sp.Last, time.Time{}, true, nil // past the end, time unknown: what comes next is new
	}
	// The stream's times grow with its sequences: find the first message newer than at.
	lo, hi := sp.First, min(seq, sp.Last+1) // the answer is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		m, err := s.GetMsg(ctx, mid)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			lo = mid + 1 // deleted: look further
			continue
		}
		if err != nil {
			return 0, time.Time{}, false, err
		}
		if streamTime(m.Time).After(streamTime(at)) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo <= sp.First {
		return lo - 1, time.Time{}, true, nil
	}
	prev, err := s.GetMsg(ctx, lo-1)
	if err != nil {
		return lo - 1, time.Time{}, true, nil
	}
	return lo - 1, prev.Time, true, nil
}

// streamTime is a stream time as the checkpoint keeps it (PostgreSQL: microseconds), so that a
// message's time and its stored copy compare equal.
func streamTime(t time.Time) time.Time { return t.Truncate(time.Microsecond) }
