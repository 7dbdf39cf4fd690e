package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/corridor-dev/corridor/pkg/live"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Stream topics.
const (
	topicPositions = "positions"
	topicAlarms    = "alarms"
)

// handleStream: GET /v1/stream?topics=positions,alarms&bbox=&carrier_id= → Server-Sent Events.
// On connect the current state of every matching vehicle is sent as position events, then every
// change: "event: position" with a VehicleState, "event: alarm" with {"event", "alarm"}, and with
// the alarms topic "event: supervision" with {"event", "supervision"} (JT/T 809 uplink). bbox
// filters positions; carrier_id filters both (a carrier token gets only its own). A comment line
// ": heartbeat" is sent every Heartbeat. A client that falls StreamBuffer events behind, or does
// not take a write within StreamWriteTimeout, is disconnected; others never wait for it.
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
		rc := http.NewResponseController(w)
		sub := s.Live.SubscribeFilter(s.StreamBuffer, keep)
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
		writeEvent := func(name string, v any) {
			data, _ := json.Marshal(v)
			buf.WriteString("event: ")
			buf.WriteString(name)
			buf.WriteString("\ndata: ")
			buf.Write(data)
			buf.WriteString("\n\n")
		}

		buf.WriteString("retry: 3000\n: connected\n\n")
		if ok && wantPositions {
			for _, st := range s.Live.States() {
				if f.match(&st) {
					writeEvent(live.EventPosition, st)
				}
			}
		}
		if !send() {
			return
		}
		heartbeat := time.NewTicker(s.Heartbeat)
		defer heartbeat.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-heartbeat.C:
				buf.WriteString(": heartbeat\n\n")
			case e, open := <-sub.C():
				if !open {
					if sub.Dropped() {
						s.Log.WarnContext(r.Context(), "stream client too slow; disconnected", "remote", r.RemoteAddr)
					}
					return
				}
				switch e.Type {
				case live.EventPosition:
					writeEvent(live.EventPosition, e.State)
				case live.EventSupervision:
					writeEvent(live.EventSupervision, e.Supervision)
				default:
					writeEvent(live.EventAlarm, e.Alarm)
				}
			}
			if !send() {
				return
			}
		}
	}
}
