package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/corridor-dev/corridor/pkg/live"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Stream topics.
const (
	topicPositions = "positions"
	topicAlarms    = "alarms"
	// eventReset tells a client that asked to resume that it cannot: the snapshot follows.
	eventReset = "reset"
)

// handleStream: GET /v1/stream?topics=positions,alarms&bbox=&carrier_id= → Server-Sent Events.
// On connect the current state of every matching vehicle is sent as position events, then every
// change: "event: position" with a VehicleState, "event: alarm" with {"event", "alarm"}, and with
// the alarms topic "event: supervision" with {"event", "supervision"} (JT/T 809 uplink). bbox
// filters positions; carrier_id filters both (a carrier token gets only its own). A comment line
// ": heartbeat" is sent every Heartbeat. A client that falls StreamBuffer events behind, or does
// not take a write within StreamWriteTimeout, is disconnected; others never wait for it.
//
// Every event has an id; a reconnect with Last-Event-ID (or ?last_event_id=) gets the events
// after it from the hub's ring instead of the snapshot, or "event: reset" followed by the snapshot
// when that id can no longer be resumed from. Streams are capped per key and in total (429), and
// end when their key is revoked (at once through this process, within StreamRecheck otherwise).
func (s *server) handleStream() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		wantPositions, wantAlarms := true, true
		if t := q.Get("topics"); t != "" {
			wantPositions, wantAlarms = false, false
			for _, v := range strings.Split(t, ",") {
				switch strings.TrimSpace(v) {
				case topicPositions:
					wantPositions = true
				case topicAlarms:
					wantAlarms = true
				default:
					s.writeError(w, r, tracking.Invalid(tracking.FieldError{Field: "topics", Message: "must list positions and/or alarms, comma-separated"}))
					return
				}
			}
		}
		box, err := parseBBox(q.Get("bbox"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		carrier, ok := carrierFilter(principal(r), q.Get("carrier_id"))
		f := stateFilter{box: box, carrier: carrier}

		// keep selects the events this client wants, in the hub, so that the rest never fill its buffer.
		keep := func(e live.Event) bool {
			switch {
			case !ok:
				return false
			case e.Type == live.EventPosition:
				return wantPositions && e.State != nil && f.match(e.State)
			case e.Type == live.EventAlarm:
				return wantAlarms && e.Alarm != nil && (f.carrier == "" || e.Alarm.Alarm.CarrierID == f.carrier)
			case e.Type == live.EventSupervision: // with the alarms topic
				return wantAlarms && e.Supervision != nil && (f.carrier == "" ||
					e.Supervision.Supervision.CarrierID != nil && *e.Supervision.Supervision.CarrierID == f.carrier)
			}
			return false
		}
		p := principal(r)
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		reg, admitted := s.streams.open(p.KeyID, cancel)
		if !admitted {
			w.Header().Set("Retry-After", "10")
			problem(w, http.StatusTooManyRequests, problemRateLimited,
				"too many open streams (at most "+strconv.Itoa(s.StreamMaxPerKey)+" per key and "+strconv.Itoa(s.StreamMax)+" in total); close one or retry later")
			return
		}
		defer s.streams.close(reg)
		lastID := r.Header.Get("Last-Event-ID")
		if lastID == "" {
			lastID = q.Get("last_event_id")
		}
		rc := http.NewResponseController(w)
		// The server's read and write timeouts are for ordinary requests: a stream lives on, each
		// write bounded by StreamWriteTimeout instead.
		_ = rc.SetReadDeadline(time.Time{})
		sub, resume := s.Live.SubscribeFrom(s.StreamBuffer, keep, lastID)
		defer sub.Close()
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)

		var buf bytes.Buffer
		send := func() bool {
			if err := rc.SetWriteDeadline(time.Now().Add(s.StreamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return false
			}
			if _, err := w.Write(buf.Bytes()); err != nil {
				return false
			}
			buf.Reset()
			return rc.Flush() == nil
		}
		writeEvent := func(id, name string, v any) {
			data, _ := json.Marshal(v)
			if id != "" {
				buf.WriteString("id: ")
				buf.WriteString(id)
				buf.WriteByte('\n')
			}
			buf.WriteString("event: ")
			buf.WriteString(name)
			buf.WriteString("\ndata: ")
			buf.Write(data)
			buf.WriteString("\n\n")
		}
		writeLive := func(e live.Event) {
			switch e.Type {
			case live.EventPosition:
				writeEvent(e.ID, live.EventPosition, e.State)
			case live.EventSupervision:
				writeEvent(e.ID, live.EventSupervision, e.Supervision)
			default:
				writeEvent(e.ID, live.EventAlarm, e.Alarm)
			}
		}

		buf.WriteString("retry: 3000\n: connected\n\n")
		if resume.Reset {
			writeEvent(resume.LastID, eventReset, map[string]string{"reason": "Last-Event-ID is too old or unknown; the current state follows, re-read open alarms"})
		}
		for _, e := range resume.Replay {
			writeLive(e)
		}
		if ok && wantPositions && !resume.Resumed {
			for _, st := range resume.Snapshot {
				if f.match(&st) {
					writeEvent(resume.LastID, live.EventPosition, st)
				}
			}
		}
		if !send() {
			return
		}
		heartbeat := time.NewTicker(s.Heartbeat)
		defer heartbeat.Stop()
		recheck := time.NewTicker(s.StreamRecheck)
		defer recheck.Stop()
		token := bearerToken(r, true)
		for {
			select {
			case <-ctx.Done():
				return
			case <-recheck.C:
				if p.KeyID == AdminKeyID {
					continue
				}
				// Directly, not through the cache: a key revoked elsewhere ends its streams.
				if _, err := s.APIKeys.PrincipalByToken(ctx, token); tracking.ErrorCode(err) == tracking.EUNAUTH {
					s.Log.InfoContext(ctx, "stream ended: its key was revoked", "key", p.KeyID)
					return
				}
				continue
			case <-heartbeat.C:
				buf.WriteString(": heartbeat\n\n")
			case e, open := <-sub.C():
				if !open {
					if sub.Dropped() {
						s.Log.WarnContext(ctx, "stream client too slow; disconnected", "remote", r.RemoteAddr)
					}
					return
				}
				writeLive(e)
			}
			if !send() {
				return
			}
		}
	}
}
