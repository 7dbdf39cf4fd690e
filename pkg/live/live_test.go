package live_test

import (
	"sync"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/live"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

func state(id string, at time.Time, lat float64) tracking.VehicleState {
	return tracking.VehicleState{VehicleID: id, CarrierID: "acme", Lat: lat, Lon: 107, Status: tracking.StatusNoTrip, UpdatedAt: at, TS: at}
}

func TestStatesKeepNewest(t *testing.T) {
	h := live.NewHub()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if !h.SetState(state("b", t0, 1)) || !h.SetState(state("a", t0, 1)) {
		t.Fatal("first states not stored")
	}
	if h.SetState(state("a", t0.Add(-time.Second), 2)) {
		t.Fatal("older state stored")
	}
	if !h.SetState(state("a", t0, 3)) {
		t.Fatal("equal updated_at not stored")
	}
	got := h.States()
	if len(got) != 2 || got[0].VehicleID != "a" || got[0].Lat != 3 || got[1].VehicleID != "b" {
		t.Fatalf("states %+v", got)
	}
	h.Remove("a")
	if _, ok := h.State("a"); ok {
		t.Fatal("removed state still there")
	}
}

func TestFanOut(t *testing.T) {
	h := live.NewHub()
	s1, s2 := h.Subscribe(4), h.Subscribe(4)
	defer s1.Close()
	h.SetState(state("a", time.Now(), 1))
	h.PublishAlarm(tracking.AlarmEvent{Event: tracking.EventRaised, Alarm: tracking.Alarm{ID: "x", Kind: tracking.AlarmOverspeed}})
	for _, s := range []*live.Subscription{s1, s2} {
		e := <-s.C()
		if e.Type != live.EventPosition || e.State == nil || e.State.VehicleID != "a" {
			t.Fatalf("event %+v", e)
		}
		e = <-s.C()
		if e.Type != live.EventAlarm || e.Alarm == nil || e.Alarm.Alarm.ID != "x" {
			t.Fatalf("event %+v", e)
		}
	}
	s2.Close()
	s2.Close()
	if _, ok := <-s2.C(); ok {
		t.Fatal("closed subscription delivered")
	}
	if h.Subscribers() != 1 || s2.Dropped() {
		t.Fatalf("subscribers %d dropped %v", h.Subscribers(), s2.Dropped())
	}
}

func TestSlowSubscriberDropped(t *testing.T) {
	h := live.NewHub()
	slow, fast := h.Subscribe(2), h.Subscribe(100)
	defer fast.Close()
	var wg sync.WaitGroup
	got := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range fast.C() {
			got++
			if got == 10 {
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() {
		for i := 0; i < 10; i++ {
			h.SetState(state("a", time.Now(), float64(i)))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("hub blocked on a slow subscriber")
	}
	wg.Wait()
	if !slow.Dropped() {
		t.Fatal("slow subscriber not dropped")
	}
	n := 0
	for range slow.C() {
		n++
	}
	if n != 2 {
		t.Fatalf("slow subscriber got %d buffered events, want 2", n)
	}
	if h.Subscribers() != 1 {
		t.Fatalf("subscribers %d", h.Subscribers())
	}
	slow.Close()
}

func TestSubscribeFilter(t *testing.T) {
	h := live.NewHub()
	alarms := h.SubscribeFilter(1, func(e live.Event) bool { return e.Type == live.EventAlarm })
	defer alarms.Close()
	for i := 0; i < 100; i++ {
		h.SetState(state("a", time.Now(), float64(i)))
	}
	h.PublishAlarm(tracking.AlarmEvent{Event: tracking.EventCleared})
	if e := <-alarms.C(); e.Type != live.EventAlarm || alarms.Dropped() {
		t.Fatalf("event %+v dropped %v", e, alarms.Dropped())
	}
}

func TestCloseSubscribers(t *testing.T) {
	h := live.NewHub()
	a, b := h.Subscribe(1), h.Subscribe(1)
	h.CloseSubscribers()
	for _, s := range []*live.Subscription{a, b} {
		if _, ok := <-s.C(); ok || s.Dropped() {
			t.Fatal("subscription not closed, or closed as dropped")
		}
		s.Close()
	}
	if h.Subscribers() != 0 {
		t.Fatal("subscribers left")
	}
}

// Every event has an increasing id; a subscriber resuming from an id gets exactly the events
// after it (filtered), one too old or from another hub gets a reset with the snapshot.
func TestResumeFromRing(t *testing.T) {
	h := live.NewHubSize(5)
	var ids []string
	sub := h.Subscribe(100)
	for i := 0; i < 8; i++ {
		h.SetState(state("a", time.Now(), float64(i)))
		e := <-sub.C()
		if e.ID == "" || (len(ids) > 0 && e.ID == ids[len(ids)-1]) {
			t.Fatalf("event id %q", e.ID)
		}
		ids = append(ids, e.ID)
	}
	sub.Close()

	s, res := h.SubscribeFrom(10, nil, ids[4])
	if !res.Resumed || res.Reset || len(res.Replay) != 3 || res.Replay[0].ID != ids[5] || res.Replay[2].ID != ids[7] || res.Snapshot != nil {
		t.Fatalf("resume from ids[4]: %+v", res)
	}
	s.Close()
	s, res = h.SubscribeFrom(10, nil, ids[7])
	if !res.Resumed || len(res.Replay) != 0 {
		t.Fatalf("resume from the last id: %+v", res)
	}
	s.Close()
	// ids[2]: the event after it (ids[3]) is the oldest kept: still resumable; ids[1] is not.
	s, res = h.SubscribeFrom(10, nil, ids[2])
	if !res.Resumed || len(res.Replay) != 5 {
		t.Fatalf("resume from ids[2]: %+v", res)
	}
	s.Close()
	for _, old := range []string{ids[1], "otherhub-3", "garbage", ids[7] + "0"} {
		s, res = h.SubscribeFrom(10, nil, old)
		if res.Resumed || !res.Reset || len(res.Snapshot) != 1 || res.LastID != ids[7] {
			t.Fatalf("resume from %q: %+v", old, res)
		}
		s.Close()
	}
	// A filter applies to the replay too.
	h.PublishAlarm(tracking.AlarmEvent{Event: tracking.EventRaised})
	s, res = h.SubscribeFrom(10, func(e live.Event) bool { return e.Type == live.EventAlarm }, ids[5])
	if len(res.Replay) != 1 || res.Replay[0].Type != live.EventAlarm {
		t.Fatalf("filtered replay: %+v", res.Replay)
	}
	s.Close()
	if h.Subscribers() != 0 {
		t.Fatalf("subscribers %d", h.Subscribers())
	}
}

// A subscriber that falls behind is counted as dropped; publishing never waits for it, and many
// subscribers come and go while events flow (run with -race).
func TestDroppedCounterAndConcurrentSubscribers(t *testing.T) {
	h := live.NewHub()
	slow := h.Subscribe(1)
	for i := 0; i < 3; i++ {
		h.SetState(state("a", time.Now(), float64(i)))
	}
	if !slow.Dropped() || h.DroppedEvents() != 1 || h.DroppedSubscribers() != 1 {
		t.Fatalf("dropped %v events %d subs %d", slow.Dropped(), h.DroppedEvents(), h.DroppedSubscribers())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			h.SetState(state("b", time.Now(), float64(i)))
		}
	}()
	for i := 0; i < 200; i++ {
		s, _ := h.SubscribeFrom(4, nil, "")
		s.Close()
	}
	<-done
	if h.Subscribers() != 0 {
		t.Fatalf("subscribers %d", h.Subscribers())
	}
}
