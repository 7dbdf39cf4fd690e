// Package live keeps the latest state of every vehicle in memory and fans out position and alarm
// events to subscribers (the SSE stream). It does no I/O: the caller feeds it from NATS and the
// database. A slow subscriber is cut off, never waited for.
//
// Every event gets an id ("<hub epoch>-<sequence>") and the last RingSize events are kept, so a
// subscriber that reconnects with the id of the last event it saw gets what it missed (Resume),
// or is told to start over from the snapshot when that is no longer in the ring (or the id is
// from another hub, e.g. before a restart).
package live

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Event types.
const (
	EventPosition    = "position"
	EventAlarm       = "alarm"
	EventSupervision = "supervision" // JT/T 809 supervision requests and answers
)

// DefaultRingSize is how many recent events a hub keeps for resuming subscribers.
const DefaultRingSize = 10_000

// Event is one change delivered to subscribers: a vehicle's new state or an alarm change.
type Event struct {
	ID    string                 // "<epoch>-<seq>", increasing within one hub
	Type  string                 // EventPosition or EventAlarm
	State *tracking.VehicleState // set for EventPosition
	Alarm *tracking.AlarmEvent   // set for EventAlarm
	// Supervision is set for EventSupervision.
	Supervision *tracking.SupervisionEvent
	seq         uint64
}

// Hub holds the latest VehicleState per vehicle, a ring of recent events and the current
// subscribers. Its methods are safe for concurrent use and never block on a subscriber.
//
// Locking: mu guards states, the ring and the sequence for short critical sections; the
// subscriber list is copy-on-write (an atomic pointer), so delivering an event takes no lock
// shared by all subscribers (each subscription has its own). pub orders publishers so that every
// subscriber sees events in id order.
type Hub struct {
	pub    sync.Mutex
	mu     sync.RWMutex
	states map[string]tracking.VehicleState
	epoch  string
	seq    uint64
	ring   []Event // circular, len ≤ cap
	head   int     // index of the oldest event when the ring is full
	subs   atomic.Pointer[[]*Subscription]

	droppedEvents atomic.Uint64
	droppedSubs   atomic.Uint64
}

// NewHub returns an empty hub keeping DefaultRingSize events.
func NewHub() *Hub { return NewHubSize(DefaultRingSize) }

// NewHubSize returns an empty hub keeping the last ring events for resuming (at least 1).
func NewHubSize(ring int) *Hub {
	h := &Hub{states: make(map[string]tracking.VehicleState), ring: make([]Event, 0, max(ring, 1)),
		epoch: strconv.FormatInt(time.Now().UnixNano(), 36)}
	h.subs.Store(&[]*Subscription{})
	return h
}

// SetState stores s as the vehicle's state unless the stored one has a later UpdatedAt, and then
// sends a position event to every subscriber. It reports whether s was stored.
func (h *Hub) SetState(s tracking.VehicleState) bool {
	h.pub.Lock()
	defer h.pub.Unlock()
	h.mu.Lock()
	if cur, ok := h.states[s.VehicleID]; ok && cur.UpdatedAt.After(s.UpdatedAt) {
		h.mu.Unlock()
		return false
	}
	h.states[s.VehicleID] = s
	st := s
	e, subs := h.recordLocked(Event{Type: EventPosition, State: &st})
	h.mu.Unlock()
	h.fanOut(e, subs)
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
	h.pub.Lock()
	defer h.pub.Unlock()
	ev := e
	h.mu.Lock()
	rec, subs := h.recordLocked(Event{Type: EventAlarm, Alarm: &ev})
	h.mu.Unlock()
	h.fanOut(rec, subs)
}

// recordLocked numbers e, keeps it in the ring and returns it with the subscribers it goes to
// (those registered now: a later subscriber finds it in the ring or the snapshot instead).
func (h *Hub) recordLocked(e Event) (Event, []*Subscription) {
	h.seq++
	e.seq = h.seq
	e.ID = h.epoch + "-" + strconv.FormatUint(h.seq, 10)
	if len(h.ring) < cap(h.ring) {
		h.ring = append(h.ring, e)
	} else {
		h.ring[h.head] = e
		h.head = (h.head + 1) % len(h.ring)
	}
	return e, *h.subs.Load()
}

// fanOut delivers e without blocking; a subscriber whose buffer is full is dropped.
func (h *Hub) fanOut(e Event, subs []*Subscription) {
	for _, s := range subs {
		if s.keep != nil && !s.keep(e) {
			continue
		}
		s.send(e)
	}
}

// PublishSupervision sends a supervision event to every subscriber.
func (h *Hub) PublishSupervision(e tracking.SupervisionEvent) {
	h.pub.Lock()
	defer h.pub.Unlock()
	ev := e
	h.mu.Lock()
	rec, subs := h.recordLocked(Event{Type: EventSupervision, Supervision: &ev})
	h.mu.Unlock()
	h.fanOut(rec, subs)
}

// States returns a snapshot of every vehicle's latest state, ordered by vehicle id.
func (h *Hub) States() []tracking.VehicleState {
	h.mu.RLock()
	out := h.statesLocked()
	h.mu.RUnlock()
	return out
}

func (h *Hub) statesLocked() []tracking.VehicleState {
	out := make([]tracking.VehicleState, 0, len(h.states))
	for _, s := range h.states {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b tracking.VehicleState) int { return strings.Compare(a.VehicleID, b.VehicleID) })
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
	for _, s := range *h.subs.Load() {
		s.Close()
	}
}

// Subscribers returns how many subscriptions are open.
func (h *Hub) Subscribers() int { return len(*h.subs.Load()) }

// DroppedEvents counts events not delivered because a subscriber's buffer was full (each such
// subscriber is then cut off); DroppedSubscribers counts the subscribers cut off.
func (h *Hub) DroppedEvents() uint64      { return h.droppedEvents.Load() }
func (h *Hub) DroppedSubscribers() uint64 { return h.droppedSubs.Load() }

// Subscribe returns a subscription that receives every event from now on. buf is how many events
// may wait unread; a subscriber that falls further behind is closed and reports Dropped.
func (h *Hub) Subscribe(buf int) *Subscription {
	return h.SubscribeFilter(buf, nil)
}

// SubscribeFilter is Subscribe for only the events keep returns true for (nil keeps all). Events
// left out do not count against buf. keep runs on the publisher's goroutine: it must be quick
// and must not call the hub.
func (h *Hub) SubscribeFilter(buf int, keep func(Event) bool) *Subscription {
	s, _ := h.SubscribeFrom(buf, keep, "")
	return s
}

// Resume is where a new subscription starts.
type Resume struct {
	// Replay holds the kept events after the given id that keep selects, oldest first: deliver
	// them before the subscription's channel. Empty unless Resumed.
	Replay []Event
	// Resumed reports that the id was found: nothing was missed, no snapshot is needed.
	Resumed bool
	// Reset reports that an id was given but cannot be resumed from (too old, or another hub):
	// the subscriber must start over from Snapshot.
	Reset bool
	// Snapshot is every vehicle's state when not Resumed; LastID is the id of the last event it
	// reflects ("" before the first event).
	Snapshot []tracking.VehicleState
	LastID   string
}

// SubscribeFrom subscribes like SubscribeFilter and, atomically with it, returns what the
// subscriber needs to see first: with lastEventID the events it missed since then, or else (or
// when that is too old) the snapshot of every vehicle. Nothing is missed or seen twice between
// the two.
func (h *Hub) SubscribeFrom(buf int, keep func(Event) bool, lastEventID string) (*Subscription, Resume) {
	if buf < 1 {
		buf = 1
	}
	s := &Subscription{hub: h, c: make(chan Event, buf), keep: keep}
	h.mu.Lock()
	defer h.mu.Unlock()
	var res Resume
	if lastEventID != "" {
		if after, ok := h.parseIDLocked(lastEventID); ok {
			res.Resumed = true
			for i := range h.ring {
				e := h.ring[(h.head+i)%len(h.ring)]
				if e.seq > after && (keep == nil || keep(e)) {
					res.Replay = append(res.Replay, e)
				}
			}
		} else {
			res.Reset = true
		}
	}
	if !res.Resumed {
		res.Snapshot = h.statesLocked()
		if h.seq > 0 {
			res.LastID = h.epoch + "-" + strconv.FormatUint(h.seq, 10)
		}
	}
	for { // copy-on-write add
		old := h.subs.Load()
		next := append(slices.Clip(*old), s)
		if h.subs.CompareAndSwap(old, &next) {
			break
		}
	}
	return s, res
}

// parseIDLocked returns the sequence after which to resume, if id is this hub's and nothing
// after it has left the ring.
func (h *Hub) parseIDLocked(id string) (uint64, bool) {
	epoch, seqStr, ok := strings.Cut(id, "-")
	if !ok || epoch != h.epoch {
		return 0, false
	}
	seq, err := strconv.ParseUint(seqStr, 10, 64)
	if err != nil || seq > h.seq {
		return 0, false
	}
	if seq == h.seq {
		return seq, true
	}
	if len(h.ring) == 0 {
		return 0, false
	}
	oldest := h.ring[h.head].seq // head is 0 until the ring is full
	// Resumable when the event right after seq is still kept.
	return seq, seq+1 >= oldest
}

func (h *Hub) remove(s *Subscription) {
	for {
		old := h.subs.Load()
		i := slices.Index(*old, s)
		if i < 0 {
			return
		}
		next := slices.Delete(slices.Clone(*old), i, i+1)
		if h.subs.CompareAndSwap(old, &next) {
			return
		}
	}
}

// Subscription is one subscriber's feed of events.
type Subscription struct {
	hub     *Hub
	c       chan Event
	keep    func(Event) bool
	mu      sync.Mutex // guards closed, dropped and sends on c
	closed  bool
	dropped bool
}

func (s *Subscription) send(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	select {
	case s.c <- e:
	default:
		s.dropped = true
		s.hub.droppedEvents.Add(1)
		s.hub.droppedSubs.Add(1)
		s.closeLocked()
	}
}

func (s *Subscription) closeLocked() {
	if s.closed {
		return
	}
	s.closed = true
	close(s.c)
	s.hub.remove(s) // lock-free (a CAS loop on the list), so safe under s.mu
}

// C returns the channel of events; it is closed by Close or when the subscriber is dropped.
func (s *Subscription) C() <-chan Event { return s.c }

// Close ends the subscription and closes C. It may be called more than once.
func (s *Subscription) Close() {
	s.mu.Lock()
	wasClosed := s.closed
	if !s.closed {
		s.closed = true
		close(s.c)
	}
	s.mu.Unlock()
	if !wasClosed {
		s.hub.remove(s)
	}
}

// Dropped reports whether the hub closed the subscription because it fell behind.
func (s *Subscription) Dropped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}
