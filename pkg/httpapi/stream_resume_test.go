package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/waitfor"
	"github.com/corridor-dev/corridor/pkg/httpapi"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Every event has an id; a reconnect with last_event_id (or Last-Event-ID) gets exactly what it
// missed, without the snapshot; an unknown or too old id gets "reset" and the snapshot.
func TestStreamResumeCapsRevocation(t *testing.T) {
	e := newEnv(t)
	testStreamResume(t, e)
	testStreamCaps(t, e)
	testStreamEndsWhenKeyRevoked(t, e)
}

func testStreamResume(t *testing.T, e *env) {
	c := e.stream("/v1/stream", roleAdmin)
	for i := 0; i < 2; i++ { // snapshot: a1, b1
		if ev := c.next(t); ev.name != "position" || ev.id == "" {
			t.Fatalf("snapshot event without id: %+v", ev)
		}
	}
	e.hub.SetState(state(e, "a1", "acme", 29.61, 106.61))
	e.hub.PublishAlarm(alarmEvent("a1", "acme"))
	e.hub.SetState(state(e, "b1", "beta", 29.62, 106.62))
	var seen []sseEvent
	for i := 0; i < 3; i++ {
		seen = append(seen, c.next(t))
	}
	if seen[1].name != "alarm" || seen[0].id == "" || seen[0].id == seen[1].id || seen[1].id == seen[2].id {
		t.Fatalf("live events %+v", seen)
	}
	c.cancel()
	// Missed while away.
	e.hub.SetState(state(e, "a1", "acme", 29.63, 106.63))
	e.hub.PublishAlarm(alarmEvent("b1", "beta"))

	r := e.stream("/v1/stream?last_event_id="+url.QueryEscape(seen[0].id), roleAdmin)
	want := []struct{ name, vehicle string }{{"alarm", "a1"}, {"position", "b1"}, {"position", "a1"}, {"alarm", "b1"}}
	for i, w := range want {
		ev := r.next(t)
		if ev.name != w.name || !strings.Contains(ev.data, `"`+w.vehicle+`"`) || ev.id == "" {
			t.Fatalf("resumed event %d = %+v, want %s of %s", i, ev, w.name, w.vehicle)
		}
		if i == 0 && ev.id != seen[1].id {
			t.Fatalf("resumed at %s, want %s", ev.id, seen[1].id)
		}
	}
	r.none(t, 100*time.Millisecond) // no snapshot after a resume

	// A carrier resuming gets only its own events.
	own := e.stream("/v1/stream?access_token="+e.tokens[roleCarrier]+"&last_event_id="+url.QueryEscape(seen[0].id), roleNone)
	for _, w := range []string{"alarm", "position"} {
		if ev := own.next(t); ev.name != w || !strings.Contains(ev.data, `"a1"`) {
			t.Fatalf("carrier resume %+v, want %s of a1", ev, w)
		}
	}
	own.none(t, 100*time.Millisecond)

	// An id this server never gave: reset, then the snapshot.
	for _, id := range []string{"123-4", "garbage"} {
		x := e.stream("/v1/stream?last_event_id="+id, roleAdmin)
		if ev := x.next(t); ev.name != "reset" {
			t.Fatalf("unknown id %q: first event %+v, want reset", id, ev)
		}
		for i := 0; i < 2; i++ {
			if ev := x.next(t); ev.name != "position" {
				t.Fatalf("snapshot after reset %+v", ev)
			}
		}
		x.cancel()
	}
}

// Streams are capped per key and in total (429 with Retry-After), and a slot frees when a
// stream ends.
func testStreamCaps(t *testing.T, base *env) {
	e := base.variant(func(d *httpapi.Deps) { d.StreamMaxPerKey, d.StreamMax = 2, 3 })
	a := e.stream("/v1/stream", roleCarrier)
	e.stream("/v1/stream", roleCarrier)
	r := e.openStream("/v1/stream", roleCarrier)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream of one key: %d %s", r.StatusCode, r.body)
	}
	e.stream("/v1/stream", roleDispatcher)
	if r := e.openStream("/v1/stream", roleSafety); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fourth stream in total: %d", r.StatusCode)
	}
	a.cancel()
	waitFor(t, 5*time.Second, "a slot to free", func() bool {
		r := e.openStream("/v1/stream", roleSafety)
		return r.StatusCode == http.StatusOK
	})

	// A subscriber too slow for its buffer is cut off and counted.
	slow := e.hub.Subscribe(1)
	defer slow.Close()
	e.hub.SetState(state(e, "a1", "acme", 29.7, 106.7))
	e.hub.SetState(state(e, "a1", "acme", 29.71, 106.71))
	m := e.do("GET", "/metrics", roleNone, nil)
	if !strings.Contains(string(m.body), "corridor_stream_events_dropped_total 1") || !strings.Contains(string(m.body), "corridor_stream_clients ") {
		t.Fatalf("stream metrics missing:\n%s", m.body)
	}
}

// A revoked key's streams end: at once when revoked through this API, within StreamRecheck when
// revoked elsewhere (another process: here, straight in the database).
func testStreamEndsWhenKeyRevoked(t *testing.T, base *env) {
	e := base.variant(func(d *httpapi.Deps) { d.StreamRecheck = 100 * time.Millisecond })
	ctx := context.Background()
	k1, tok1, err := e.db.CreateAPIKey(ctx, tracking.RoleSafety, "", "k1")
	if err != nil {
		t.Fatal(err)
	}
	k2, tok2, err := e.db.CreateAPIKey(ctx, tracking.RoleSafety, "", "k2")
	if err != nil {
		t.Fatal(err)
	}
	e.tokens["k1"], e.tokens["k2"] = tok1, tok2
	s1 := e.stream("/v1/stream?topics=alarms", "k1")
	s2 := e.stream("/v1/stream?topics=alarms", "k2")
	wantStatus(t, e.do("DELETE", "/v1/api-keys/"+k1.ID, roleAdmin, nil), http.StatusNoContent)
	waitClosed(t, s1, 2*time.Second)
	if err := e.db.RevokeAPIKey(ctx, k2.ID); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, s2, 3*time.Second)
	// And the revoked token is refused from then on, cache or not (revoked here: forgotten).
	wantStatus(t, e.do("GET", "/v1/vehicles", "k1", nil), http.StatusUnauthorized)
}

func waitClosed(t *testing.T, c *client, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-c.C:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("stream still open after %v", d)
		}
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	waitfor.For(t, d, what, cond)
}
