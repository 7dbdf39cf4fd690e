package main

import (
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// TestEscalationE2E: a critical alarm nobody acknowledges escalates once, after
// CORRIDOR_ESCALATE_AFTER, as an escalated event on ALARMS and on the SSE stream, and the alarm
// shows escalated_at; resolving it records the disposal on the alarm and in its resolved event.
func TestEscalationE2E(t *testing.T) {
	r := rxStart(t, map[string]string{"CORRIDOR_ESCALATE_AFTER": "1s"}, "alarms")
	const v = "esc-1"
	r.vehicle(v)
	base := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	r.publish(rxFix{vehicle: v, ts: base, lat: 29.96, lon: 107.01, speed: 0, alarms: []string{"emergency"}})
	a := r.waitAlarm("vehicle_id="+v, "emergency of "+v, func(tracking.Alarm) bool { return true })

	waitUntil(t, 15*time.Second, "the escalated event on the SSE stream", func() bool {
		for _, ev := range r.sse.alarms(a.ID) {
			if ev.Event == tracking.EventEscalated {
				return true
			}
		}
		return false
	})
	var got tracking.Alarm
	r.srv.do("GET", "/v1/alarms/"+a.ID, nil, 200, &got)
	if got.EscalatedAt == nil || got.State != tracking.StateOpen || got.EscalatedAt.Sub(got.RaisedAt) < 0 {
		t.Fatalf("escalated alarm %+v", got)
	}
	for _, ev := range r.sse.alarms(a.ID) {
		if ev.Event == tracking.EventEscalated && (ev.Reason != tracking.EscalationUnacknowledged || ev.Alarm.EscalatedAt == nil) {
			t.Fatalf("SSE escalated event %+v", ev)
		}
	}

	r.srv.do("POST", "/v1/alarms/"+a.ID+"/resolve", map[string]any{"note": "driver pressed it by mistake"}, 400, nil)
	r.srv.do("POST", "/v1/alarms/"+a.ID+"/resolve", map[string]any{"note": "driver pressed it by mistake", "disposal": "false_alarm"}, 200, &got)
	waitUntil(t, 10*time.Second, "the resolved event on ALARMS", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, e := range r.natsEv {
			if e.Ev.Alarm.ID == a.ID && e.Ev.Event == tracking.EventResolved {
				return true
			}
		}
		return false
	})
	// Exactly one escalated event in the stream, with its reason; the resolved one carries the disposal.
	r.mu.Lock()
	defer r.mu.Unlock()
	escalated := 0
	for _, e := range r.natsEv {
		if e.Ev.Alarm.ID != a.ID {
			continue
		}
		switch e.Ev.Event {
		case tracking.EventEscalated:
			escalated++
			if e.Subject != "alarms.device_alarm."+rxCarrier+"."+v || e.Ev.Reason != tracking.EscalationUnacknowledged {
				t.Fatalf("escalated event on %s: %+v", e.Subject, e.Ev)
			}
		case tracking.EventResolved:
			if e.Ev.Alarm.Disposal == nil || *e.Ev.Alarm.Disposal != tracking.DisposalFalseAlarm {
				t.Fatalf("resolved event without its disposal: %+v", e.Ev.Alarm)
			}
		}
	}
	if escalated != 1 {
		t.Fatalf("%d escalated events on ALARMS, want 1", escalated)
	}
}
