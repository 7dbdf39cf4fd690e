package jt808

import (
	"errors"
	"time"
)

// Reassembly limits (defaults used for zero fields of Reassembler).
const (
	DefaultMaxPending = 8
	DefaultMaxBytes   = 256 << 10
	DefaultTimeout    = 2 * time.Minute
)

// ErrPackage is returned for an inconsistent subpackage (index 0 or beyond total, total 0,
// or a message over the byte limit).
var ErrPackage = errors.New("jt808: bad subpackage")

type packetKey struct {
	phone string
	msgID uint16
	total uint16
}

type partial struct {
	parts   map[uint16][]byte
	bytes   int
	started time.Time
}

// Reassembler joins subpackaged messages, keyed by (phone, message id, total). Memory is
// bounded: at most MaxPending messages in progress (the oldest is evicted), at most MaxBytes
// per message, and messages not completed within Timeout are dropped. It is not safe for
// concurrent use; a gateway keeps one per connection. The clock is passed in.
type Reassembler struct {
	MaxPending int
	MaxBytes   int
	Timeout    time.Duration
	pending    map[packetKey]*partial
	// Expired counts messages dropped unfinished (timeout or eviction).
	Expired int
}

// Add takes one frame. A frame that is not subpackaged is returned as is (done = true). A
// packet of a subpackaged message returns done = false until the last missing packet
// arrives; then the joined message is returned with the header of that completing packet
// (its serial, so that the reply answers it), Subpackaged cleared and BodyLen the full length.
// A repeated packet replaces the earlier copy.
func (r *Reassembler) Add(f Frame, now time.Time) (msg Frame, done bool, err error) {
	if !f.Header.Subpackaged {
		return f, true, nil
	}
	h := f.Header
	if h.Total == 0 || h.Index == 0 || h.Index > h.Total {
		return Frame{}, false, ErrPackage
	}
	maxBytes, maxPending, timeout := r.limits()
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
	if old, ok := p.parts[h.Index]; ok {
		p.bytes -= len(old)
	}
	if p.bytes+len(f.Body) > maxBytes {
		delete(r.pending, k)
		r.Expired++
		return Frame{}, false, ErrPackage
	}
	p.parts[h.Index] = append([]byte(nil), f.Body...)
	p.bytes += len(f.Body)
	if len(p.parts) < int(h.Total) {
		return Frame{}, false, nil
	}
	body := make([]byte, 0, p.bytes)
	for i := uint16(1); i <= h.Total; i++ {
		body = append(body, p.parts[i]...)
	}
	delete(r.pending, k)
	return joined(h, body), true, nil
}

// Pending returns the number of messages in progress.
func (r *Reassembler) Pending() int { return len(r.pending) }

func joined(h Header, body []byte) Frame {
	h.Subpackaged = false
	h.BodyLen = len(body)
	return Frame{Header: h, Body: body}
}

func (r *Reassembler) limits() (maxBytes, maxPending int, timeout time.Duration) {
	maxBytes, maxPending, timeout = r.MaxBytes, r.MaxPending, r.Timeout
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return
}

func (r *Reassembler) expire(now time.Time, timeout time.Duration) {
	for k, p := range r.pending {
		if now.Sub(p.started) > timeout {
			delete(r.pending, k)
			r.Expired++
		}
	}
}

func (r *Reassembler) evictOldest() {
	var oldest packetKey
	var t time.Time
	first := true
	for k, p := range r.pending {
		if first || p.started.Before(t) {
			oldest, t, first = k, p.started, false
		}
	}
	if !first {
		delete(r.pending, oldest)
		r.Expired++
	}
}
