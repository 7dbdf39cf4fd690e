package jt808

import (
	"errors"
	"sync/atomic"
	"time"
)

// Reassembly limits (defaults used for zero fields of Reassembler).
const (
	DefaultMaxPending = 8
	// DefaultMaxParts bounds the packets held by one Reassembler, over all its messages; a
	// message announcing more packets than this is refused at its first packet.
	DefaultMaxParts = 64
	// DefaultMaxBytes bounds the memory held by one Reassembler, over all its messages.
	DefaultMaxBytes = 64 << 10
	DefaultTimeout  = 2 * time.Minute
	// PartOverhead is what one held packet costs against the byte limits beyond its body, so
	// that empty packets are not free.
	PartOverhead = 64
)

// ErrPackage is returned for an inconsistent subpackage (index 0 or beyond total, total 0, or a
// total above the part limit).
var ErrPackage = errors.New("jt808: bad subpackage")

// ErrLimit is returned when holding a packet would exceed the Reassembler's part or byte limit
// or its shared Budget; the message it belongs to is dropped.
var ErrLimit = errors.New("jt808: reassembly limit reached")

// Budget is a byte budget shared by many Reassemblers (one per connection), bounding what all
// of them hold together. It is safe for concurrent use; a nil *Budget is unlimited.
type Budget struct {
	max  int64
	used atomic.Int64
}

// NewBudget returns a budget of max bytes.
func NewBudget(max int64) *Budget { return &Budget{max: max} }

func (b *Budget) reserve(n int) bool {
	if b == nil {
		return true
	}
	if b.used.Add(int64(n)) > b.max {
		b.used.Add(-int64(n))
		return false
	}
	return true
}

func (b *Budget) release(n int) {
	if b != nil && n != 0 {
		b.used.Add(-int64(n))
	}
}

// Used returns the bytes currently held against the budget.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

type packetKey struct {
	phone string
	msgID uint16
	total uint16
}

type partial struct {
	parts   map[uint16][]byte
	cost    int
	started time.Time
}

// Reassembler joins subpackaged messages, keyed by (phone, message id, total). Memory is
// bounded: at most MaxPending messages in progress (the oldest is evicted), at most MaxParts
// packets and MaxBytes bytes (each packet costing its body plus PartOverhead) held in total,
// Budget shared with other Reassemblers, and messages not completed within Timeout are
// dropped. It is not safe for concurrent use; a gateway keeps one per connection and calls
// Reset when the connection ends. The clock is passed in.
type Reassembler struct {
	MaxPending int
	MaxParts   int
	MaxBytes   int
	Timeout    time.Duration
	Budget     *Budget
	pending    map[packetKey]*partial
	parts      int
	cost       int
	// Expired counts messages dropped unfinished (timeout, eviction or a limit).
	Expired int
}

// Add takes one frame. A frame that is not subpackaged is returned as is (done = true). A
// packet of a subpackaged message returns done = false until the last missing packet
// arrives; then the joined message is returned with the header of that completing packet
// (its serial, so that the reply answers it), Subpackaged cleared and BodyLen the full length.
// A repeated packet replaces the earlier copy. ErrPackage: an inconsistent packet; ErrLimit:
// the packet would exceed a limit and its message was dropped.
func (r *Reassembler) Add(f Frame, now time.Time) (msg Frame, done bool, err error) {
	if !f.Header.Subpackaged {
		return f, true, nil
	}
	h := f.Header
	maxPending, maxParts, maxBytes, timeout := r.limits()
	if h.Total == 0 || h.Index == 0 || h.Index > h.Total || int(h.Total) > maxParts {
		return Frame{}, false, ErrPackage
	}
	r.expire(now, timeout)
	if h.Total == 1 {
		return joined(h, f.Body), true, nil
	}
	if r.pending == nil {
		r.pending = make(map[packetKey]*partial)
	}
	k := packetKey{phone: h.Phone, msgID: h.MsgID, total: h.Total}
	p := r.pending[k]
	if p == nil {
		if len(r.pending) >= maxPending {
			r.evictOldest()
		}
		p = &partial{parts: make(map[uint16][]byte), started: now}
		r.pending[k] = p
	}
	cost := len(f.Body) + PartOverhead
	if old, ok := p.parts[h.Index]; ok {
		r.free(p, len(old)+PartOverhead, 1)
		delete(p.parts, h.Index)
	}
	if r.parts+1 > maxParts || r.cost+cost > maxBytes || !r.Budget.reserve(cost) {
		r.drop(k, p)
		return Frame{}, false, ErrLimit
	}
	p.parts[h.Index] = append([]byte(nil), f.Body...)
	p.cost += cost
	r.parts++
	r.cost += cost
	if len(p.parts) < int(h.Total) {
		return Frame{}, false, nil
	}
	body := make([]byte, 0, p.cost-len(p.parts)*PartOverhead)
	for i := uint16(1); i <= h.Total; i++ {
		body = append(body, p.parts[i]...)
	}
	r.release(k, p)
	return joined(h, body), true, nil
}

// Pending returns the number of messages in progress.
func (r *Reassembler) Pending() int { return len(r.pending) }

// Held returns the packets and bytes (with PartOverhead) held.
func (r *Reassembler) Held() (parts, bytes int) { return r.parts, r.cost }

// Reset drops every message in progress and returns its bytes to the Budget.
func (r *Reassembler) Reset() {
	for k, p := range r.pending {
		r.release(k, p)
	}
}

func joined(h Header, body []byte) Frame {
	h.Subpackaged = false
	h.BodyLen = len(body)
	return Frame{Header: h, Body: body}
}

func (r *Reassembler) limits() (maxPending, maxParts, maxBytes int, timeout time.Duration) {
	maxPending, maxParts, maxBytes, timeout = r.MaxPending, r.MaxParts, r.MaxBytes, r.Timeout
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	if maxParts <= 0 {
		maxParts = DefaultMaxParts
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return
}

// free takes cost bytes and n parts of p off the counters and the budget.
func (r *Reassembler) free(p *partial, cost, n int) {
	p.cost -= cost
	r.cost -= cost
	r.parts -= n
	r.Budget.release(cost)
}

// release forgets a message (completed or dropped).
func (r *Reassembler) release(k packetKey, p *partial) {
	r.free(p, p.cost, len(p.parts))
	delete(r.pending, k)
}

// drop forgets an unfinished message and counts it.
func (r *Reassembler) drop(k packetKey, p *partial) {
	r.release(k, p)
	r.Expired++
}

func (r *Reassembler) expire(now time.Time, timeout time.Duration) {
	for k, p := range r.pending {
		if now.Sub(p.started) > timeout {
			r.drop(k, p)
		}
	}
}

func (r *Reassembler) evictOldest() {
	var oldest packetKey
	var op *partial
	for k, p := range r.pending {
		if op == nil || p.started.Before(op.started) {
			oldest, op = k, p
		}
	}
	if op != nil {
		r.drop(oldest, op)
	}
}
