package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/httpapi"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// sseEvent is one parsed Server-Sent Event; a comment line is an event named ":".
type sseEvent struct {
	name, data, id string
}

// client is an open SSE connection whose events arrive on C.
type client struct {
	C      chan sseEvent
	cancel context.CancelFunc
}

// stream opens path (token as access_token unless role is given) and parses events in the background.
func (e *env) stream(path, role string) *client {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+path, nil)
	if tok := e.tokens[role]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		e.t.Fatalf("stream %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c := &client{C: make(chan sseEvent, 1000), cancel: cancel}
	e.t.Cleanup(func() { cancel(); resp.Body.Close() })
	go func() {
		defer close(c.C)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					c.C <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				c.C <- sseEvent{name: ":", data: strings.TrimSpace(line[1:])}
			case strings.HasPrefix(line, "event: "):
				ev.name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[len("data: "):]
			case strings.HasPrefix(line, "id: "):
				ev.id = line[len("id: "):]
			}
		}
	}()
	return c
}

// next returns the next event that is not a comment, or fails after a second.
func (c *client) next(t *testing.T) sseEvent {
	t.Helper()
	deadline := time.After(time.Second)
	for {
		select {
		case ev, ok := <-c.C:
			if !ok {
				t.Fatal("stream closed")
			}
			if ev.name != ":" {
				return ev
			}
		case <-deadline:
			t.Fatal("no event within 1 s")
		}
	}
}

// none fails if an event that is not a comment arrives within d.
func (c *client) none(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-c.C:
			if ev.name != ":" {
				t.Fatalf("unexpected event %s %s", ev.name, ev.data)
			}
		case <-deadline:
			return
		}
	}
}

func state(e *env, vehicle, carrier string, lat, lon float64) tracking.VehicleState {
	return tracking.VehicleState{VehicleID: vehicle, CarrierID: carrier, Plate: "P", TS: time.Now().UTC(), Lat: lat, Lon: lon,
		Status: tracking.StatusNoTrip, UpdatedAt: time.Now().UTC()}
}

func alarmEvent(vehicle, carrier string) tracking.AlarmEvent {
	return tracking.AlarmEvent{Event: tracking.EventRaised, Alarm: tracking.Alarm{ID: "00000000-0000-0000-0000-00000000000a",
		Kind: tracking.AlarmOverspeed, Severity: tracking.SeverityWarning, State: tracking.StateOpen, Active: true,
		VehicleID: vehicle, CarrierID: carrier, StartedAt: time.Now().UTC(), RaisedAt: time.Now().UTC()}}
}

func TestStream(t *testing.T) {
	e := newEnv(t)
	// A carrier token as access_token: the snapshot and live events of its own vehicles only.
	own := e.stream("/v1/stream?access_token="+e.tokens[roleCarrier], roleNone)
	ev := own.next(t)
	var st tracking.VehicleState
	if ev.name != "position" || json.Unmarshal([]byte(ev.data), &st) != nil || st.VehicleID != "a1" {
		t.Fatalf("snapshot %+v", ev)
	}
	all := e.stream("/v1/stream", roleAdmin)
	for i := 0; i < 2; i++ {
		if ev := all.next(t); ev.name != "position" {
			t.Fatalf("admin snapshot %+v", ev)
		}
	}
	alarmsOnly := e.stream("/v1/stream?topics=alarms", roleSafety)
	boxed := e.stream("/v1/stream?topics=positions&bbox=106,29,107.5,30", roleDispatcher)
	if ev := boxed.next(t); !strings.Contains(ev.data, `"a1"`) {
		t.Fatalf("boxed snapshot %+v", ev)
	}

	e.hub.SetState(state(e, "b1", "beta", 29.5, 106.5))
	e.hub.SetState(state(e, "a1", "acme", 29.6, 106.6))
	e.hub.PublishAlarm(alarmEvent("b1", "beta"))
	e.hub.PublishAlarm(alarmEvent("a1", "acme"))

	ev = own.next(t)
	if ev.name != "position" || !strings.Contains(ev.data, `"vehicle_id":"a1"`) {
		t.Fatalf("own position %+v", ev)
	}
	ev = own.next(t)
	var ae tracking.AlarmEvent
	if ev.name != "alarm" || json.Unmarshal([]byte(ev.data), &ae) != nil || ae.Event != "raised" || ae.Alarm.VehicleID != "a1" {
		t.Fatalf("own alarm %+v", ev)
	}
	for _, want := range []string{"position b1", "position a1", "alarm b1", "alarm a1"} {
		ev := all.next(t)
		name, vehicle, _ := strings.Cut(want, " ")
		if ev.name != name || !strings.Contains(ev.data, `"vehicle_id":"`+vehicle+`"`) {
			t.Fatalf("admin stream: got %s %s, want %s", ev.name, ev.data, want)
		}
	}
	for _, want := range []string{"b1", "a1"} {
		if ev := alarmsOnly.next(t); ev.name != "alarm" || !strings.Contains(ev.data, want) {
			t.Fatalf("alarms only: %+v", ev)
		}
	}
	for _, want := range []string{"b1", "a1"} {
		if ev := boxed.next(t); ev.name != "position" || !strings.Contains(ev.data, want) {
			t.Fatalf("boxed: %+v", ev)
		}
	}
	e.hub.SetState(state(e, "a1", "acme", 31, 110)) // leaves the box
	if ev := all.next(t); !strings.Contains(ev.data, `"lat":31`) {
		t.Fatalf("admin %+v", ev)
	}
	boxed.none(t, 100*time.Millisecond)
	own.next(t)
	own.none(t, 50*time.Millisecond)
	alarmsOnly.none(t, 50*time.Millisecond)

	// Heartbeat comments every Heartbeat (50 ms in tests).
	deadline := time.After(time.Second)
	for seen := false; !seen; {
		select {
		case ev := <-own.C:
			seen = ev.name == ":" && ev.data == "heartbeat"
		case <-deadline:
			t.Fatal("no heartbeat")
		}
	}

	// A carrier asking for another carrier gets nothing; bad parameters are 400.
	other := e.stream("/v1/stream?carrier_id=acme", roleOther)
	e.hub.SetState(state(e, "a1", "acme", 29.7, 106.7))
	other.none(t, 100*time.Millisecond)
	for _, q := range []string{"topics=weather", "bbox=1,2,3"} {
		r := e.openStream("/v1/stream?"+q, roleAdmin)
		if r.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: %d", q, r.StatusCode)
		}
	}
}

// TestStreamSlowClient: a client that stops reading is cut off and never holds up the hub or the
// other clients.
func TestStreamSlowClient(t *testing.T) {
	e := newEnv(t, func(d *httpapi.Deps) {
		d.StreamBuffer = 8
		d.StreamWriteTimeout = 200 * time.Millisecond
	})
	slowCtx, stopSlow := context.WithCancel(context.Background())
	defer stopSlow()
	req, _ := http.NewRequestWithContext(slowCtx, http.MethodGet, e.srv.URL+"/v1/stream?topics=positions", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	slow, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Body.Close() // never read
	fast := e.stream("/v1/stream?topics=alarms", roleAdmin)

	big := strings.Repeat("x", 4000)
	start := time.Now()
	for i := 0; i < 5000; i++ {
		s := state(e, "a1", "acme", 29.8, 107)
		s.Plate = big
		e.hub.SetState(s)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("publishing took %v: the hub waited for a slow client", d)
	}
	e.hub.PublishAlarm(alarmEvent("a1", "acme"))
	if ev := fast.next(t); ev.name != "alarm" {
		t.Fatalf("fast client %+v", ev)
	}
	// The slow client has been disconnected: only the fast one is still subscribed.
	deadline := time.Now().Add(3 * time.Second)
	for e.hub.Subscribers() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers; the slow client was not disconnected", e.hub.Subscribers())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
