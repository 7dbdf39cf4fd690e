package gateway

import (
	"log/slog"
	"time"

	"github.com/corridor-dev/corridor/pkg/jt808"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// accepting reports whether reports with header h may become positions: the connection is
// authenticated and h is from the terminal it authenticated as. When not, it answers the report
// with result 1 (so the terminal keeps and resends it) and counts it as rejected.
func (ss *session) accepting(h jt808.Header) bool {
	if ss.authed {
		if tid, ok := h.TerminalID(); ok && tid == ss.terminalID {
			return true
		}
	}
	ss.srv.reportsRejected.Add(1)
	ss.general(h, jt808.ResultFailure)
	return false
}

func (ss *session) location(m jt808.Frame) {
	h := m.Header
	if !ss.accepting(h) {
		return
	}
	l, err := jt808.ParseLocation(m.Body, ss.offset)
	if err != nil {
		ss.general(h, jt808.ResultBadMessage)
		return
	}
	p, err := l.Position(h.Version)
	if err != nil {
		ss.general(h, jt808.ResultOK) // answered, not a position
		return
	}
	ss.stamp(&p)
	if len(ss.refuseTime([]tracking.Position{p})) == 0 {
		ss.general(h, jt808.ResultFailure)
		return
	}
	attached := false
	if len(ss.can) > 0 && time.Since(ss.canAt) <= CANMaxAge {
		p.CAN = make([]tracking.CANFrame, 0, len(ss.canIDs))
		for _, id := range ss.canIDs {
			p.CAN = append(p.CAN, ss.can[id])
		}
		attached = true
	}
	if ss.publish([]tracking.Position{p}) {
		if attached || len(ss.can) > 0 {
			ss.can, ss.canIDs = nil, nil
		}
		ss.general(h, jt808.ResultOK)
		return
	}
	ss.general(h, jt808.ResultFailure)
}

func (ss *session) batch(m jt808.Frame) {
	h := m.Header
	if !ss.accepting(h) {
		return
	}
	b, err := jt808.ParseBatch(m.Body, ss.offset)
	if err != nil {
		ss.general(h, jt808.ResultBadMessage)
		return
	}
	ps := make([]tracking.Position, 0, len(b.Items))
	for i := range b.Items {
		p, err := b.Items[i].Position(h.Version)
		if err != nil {
			continue
		}
		ss.stamp(&p)
		ps = append(ps, p)
	}
	fixes := len(ps)
	ps = ss.refuseTime(ps)
	switch {
	case fixes > 0 && len(ps) == 0:
		ss.general(h, jt808.ResultFailure) // every fix refused for its time
	case len(ps) == 0 || ss.publish(ps):
		ss.general(h, jt808.ResultOK)
	default:
		ss.general(h, jt808.ResultFailure)
	}
}

// refuseTime judges each fix's time against the server clock (tracking.CheckFixTime, the
// engine's stale_fix/future_fix limits) and returns the fixes that pass. Refused ones are
// counted by reason, logged (rate-limited per source) and recorded through Config.Rejections.
func (ss *session) refuseTime(ps []tracking.Position) []tracking.Position {
	s := ss.srv
	now := s.fixNow()
	var rejected []Rejection
	kept := ps[:0]
	for _, p := range ps {
		reason, detail := tracking.CheckFixTime(p.TS, now)
		if reason == "" {
			kept = append(kept, p)
			continue
		}
		if reason == tracking.ReasonFutureFix {
			s.futureFixes.Add(1)
		} else {
			s.staleFixes.Add(1)
		}
		rejected = append(rejected, Rejection{Position: p, Reason: reason, Detail: "fix time " + p.TS.UTC().Format("2006-01-02T15:04:05Z") + " " + detail})
	}
	if len(rejected) == 0 {
		return kept
	}
	r := rejected[len(rejected)-1]
	ss.warn(slog.LevelWarn, "jt808 fix refused: terminal clock wrong", "reason", r.Reason, "detail", r.Detail,
		"refused", len(rejected), "server_time", now.UTC().Format("2006-01-02T15:04:05Z"), "time_offset", ss.offset.String())
	if s.cfg.Rejections != nil {
		ctx, cancel := ss.callCtx()
		err := s.cfg.Rejections.RecordRejections(ctx, rejected)
		cancel()
		if err != nil {
			s.rejectionRecordFailures.Add(1)
			ss.warn(slog.LevelError, "jt808 recording refused fixes", "err", err)
		}
	}
	return kept
}

func (ss *session) canData(m jt808.Frame) {
	h := m.Header
	if !ss.accepting(h) {
		return
	}
	c, err := jt808.ParseCAN(m.Body)
	if err != nil {
		ss.general(h, jt808.ResultBadMessage)
		return
	}
	frames := c.J1939Frames()
	if len(frames) > 0 {
		if ss.can == nil || time.Since(ss.canAt) > CANMaxAge {
			ss.can, ss.canIDs = make(map[string]tracking.CANFrame), nil
		}
		for _, fr := range frames {
			if _, ok := ss.can[fr.ID]; !ok {
				if len(ss.canIDs) >= MaxCANIDs {
					continue
				}
				ss.canIDs = append(ss.canIDs, fr.ID)
			}
			ss.can[fr.ID] = fr
		}
		ss.canAt = time.Now()
	}
	ss.general(h, jt808.ResultOK)
}

func (ss *session) stamp(p *tracking.Position) {
	p.VehicleID = ss.vehicle.ID
	p.CarrierID = ss.vehicle.CarrierID
}

// publish hands positions to the Publisher and reports success.
func (ss *session) publish(ps []tracking.Position) bool {
	ctx, cancel := ss.callCtx()
	defer cancel()
	if err := ss.srv.pub.PublishPositions(ctx, ps); err != nil {
		ss.srv.publishFailures.Add(1)
		ss.log.Error("jt808 publish", "positions", len(ps), "err", err)
		return false
	}
	ss.srv.positions.Add(uint64(len(ps)))
	return true
}
