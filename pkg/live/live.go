// Package live keeps the latest state of every vehicle in memory and fans out position and alarm
// events to subscribers (the SSE stream). It does no I/O: the caller feeds it from NATS and the
// database. A slow subscriber is cut off, never waited for.
package live

import (
	"slices"
	"sync"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Event types.
const (
	EventPosition    = "position"
	EventAlarm       = "alarm"
	EventSupervision = "supervision" // JT/T 809 supervision requests and answers
)

// Event is one change delivered to subscribers: a vehicle's new state or an alarm change.
type Event struct {
	Type  string                 // EventPosition or EventAlarm
	State *tracking.VehicleState // set for EventPosition
	Alarm *tracking.AlarmEvent   // set for EventAlarm
	// Supervision is set for EventSupervision.
	Supervision *tracking.SupervisionEvent
}

// Hub holds the latest VehicleState per vehicle and the current subscribers. Its methods are safe
// for concurrent use and never block on a subscriber.
type Hub struct {
	mu     sync.RWMutex
	states map[string]tracking.VehicleState
	subs   map[*Subscription]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{states: make(map[string]tracking.VehicleState), subs: make(map[*Subscription]struct{})}
}

// SetState stores s as the vehicle's state unless the stored one has a later UpdatedAt, and then
// sends a position event to every subscriber. It reports whether s was stored.
func (h *Hub) SetState(s tracking.VehicleState) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur, ok := h.states[s.VehicleID]; ok && cur.UpdatedAt.After(s.UpdatedAt) {
		return false
	}
	h.states[s.VehicleID] = s
	st := s
	h.fanOut(Event{Type: EventPosition, State: &st})
	return true
}

// Remove forgets a vehicle's state (e.g. when the vehicle is deleted). No event is sent.
func (h *Hub) Remove(vehicleID string) {
	h.mu.Lock()
	delete(h.states, vehicleID)
	h.mu.Unlock()
}

// PublishAlarm sends an alarm event to every subscriber.
func (h *Hub) PublishAlarm(e tracking.AlarmEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ev := e
	h.fanOut(Event{Type: EventAlarm, Alarm: &ev})
}

// PublishSupervision sends a supervision event to every subscriber.
func (h *Hub) PublishSupervision(e tracking.SupervisionEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ev := e
	h.fanOut(Event{Type: EventSupervision, Supervision: &ev})
}

// States returns a snapshot of every vehicle's latest state, ordered by vehicle id.
func (h *Hub) States() []tracking.VehicleState {
	h.mu.RLock()
	out := make([]tracking.VehicleState, 0, len(h.states))
	for _, s := range h.states {
		out = append(out, s)
	}
	h.mu.RUnlock()
	slices.SortFunc(out, func(a, b tracking.VehicleState) int {
		switch {
		case a.VehicleID < b.VehicleID:
			return -1
		case a.VehicleID > b.VehicleID:
			return 1
		}
		return 0
	})
	return out
}

// State returns one vehicle's latest state.
func (h *Hub) State(vehicleID string) (tracking.VehicleState, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	s, ok := h.states[vehicleID]
	return s, ok
}

// CloseSubscribers closes every open subscription (not as dropped), which ends every SSE stream;
// call it when the HTTP server shuts down (http.Server.RegisterOnShutdown). Later Subscribe calls
// still work.
func (h *Hub) CloseSubscribers() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		h.closeLocked(s)
	}
}

// Subscribers returns how many subscriptions are open.
func (h *Hub) Subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}

// fanOut delivers e to every subscriber without blocking; a subscriber whose buffer is full is
// dropped. h.mu must be held for writing.
func (h *Hub) fanOut(e Event) {
	for s := range h.subs {
		if s.keep != nil && !s.keep(e) {
			continue
		}
		select {
		case s.c <- e:
		default:
			s.dropped = true
			h.closeLocked(s)
		}
	}
}

func (h *Hub) closeLocked(s *Subscription) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	close(s.c)
}

// Subscribe returns a subscription that receives every event from now on. buf is how many events
// may wait unread; a subscriber that falls further behind is closed and reports Dropped.
func (h *Hub) Subscribe(buf int) *Subscription {
	return h.SubscribeFilter(buf, nil)
}

// SubscribeFilter is Subscribe for only the events keep returns true for (nil keeps all). Events
// left out do not count against buf. keep runs while the hub is locked: it must be quick and must
// not call the hub.
func (h *Hub) SubscribeFilter(buf int, keep func(Event) bool) *Subscription {
	if buf < 1 {
		buf = 1
	}
	s := &Subscription{hub: h, c: make(chan Event, buf), keep: keep}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Subscription is one subscriber's feed of events.
type Subscription struct {
	hub     *Hub
	c       chan Event
	keep    func(Event) bool
	dropped bool // guarded by hub.mu
}

// C returns the channel of events; it is closed by Close or when the subscriber is dropped.
func (s *Subscription) C() <-chan Event { return s.c }

// Close ends the subscription and closes C. It may be called more than once.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	s.hub.closeLocked(s)
	s.hub.mu.Unlock()
}

// Dropped reports whether the hub closed the subscription because it fell behind.
func (s *Subscription) Dropped() bool {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	return s.dropped
}
