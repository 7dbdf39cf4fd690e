package jt809

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// Message IDs used by Corridor (STD11 table 73).
const (
	MsgUpConnectReq       = 0x1001
	MsgUpConnectRsp       = 0x1002
	MsgUpDisconnectReq    = 0x1003
	MsgUpDisconnectRsp    = 0x1004
	MsgUpLinkTestReq      = 0x1005
	MsgUpLinkTestRsp      = 0x1006
	MsgUpDisconnectInform = 0x1007
	MsgUpCloseLinkInform  = 0x1008
	MsgUpExg              = 0x1200 // dynamic vehicle information exchange
	MsgUpPlatform         = 0x1300 // platform information exchange
	MsgUpWarn             = 0x1400 // alarm interaction
	MsgDownConnectReq     = 0x9001
	MsgDownConnectRsp     = 0x9002
	MsgDownDisconnectReq  = 0x9003
	MsgDownDisconnectRsp  = 0x9004
	MsgDownLinkTestReq    = 0x9005
	MsgDownLinkTestRsp    = 0x9006
	MsgDownPlatform       = 0x9300
	MsgDownWarn           = 0x9400
)

// Sub-business data types.
const (
	DataRealLocation     = 0x1202 // UP_EXG_MSG_REAL_LOCATION
	DataHistoryLocation  = 0x1203 // UP_EXG_MSG_HISTORY_LOCATION
	DataPostQueryAck     = 0x1301 // UP_PLATFORM_MSG_POST_QUERY_ACK
	DataUrgeTodoAck      = 0x1401 // UP_WARN_MSG_URGE_TODO_ACK
	DataAdptInfo         = 0x1402 // UP_WARN_MSG_ADPT_INFO
	DataAdptTodoInfo     = 0x1403 // 2011/2013: UP_WARN_MSG_ADPT_TODO_INFO (handling result)
	DataWarnHandleResult = 0x1412 // 2019: handling result
	DataPostQueryReq     = 0x9301 // DOWN_PLATFORM_MSG_POST_QUERY_REQ
	DataUrgeTodoReq      = 0x9401 // DOWN_WARN_MSG_URGE_TODO_REQ
)

// ErrBody is wrapped by every body decoding error.
var ErrBody = errors.New("jt809: bad body")

// beijing is UTC+8 without daylight saving: 2011 GNSS date and time fields are Beijing wall clock.
var beijing = time.FixedZone("CST", 8*3600)

// w builds a body.
type w struct{ b []byte }

func newW() *w { return &w{} }

func newR(b []byte) *r { return &r{b: b} }

func (w *w) u8(v uint8)   { w.b = append(w.b, v) }
func (w *w) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *w) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *w) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *w) raw(p []byte) { w.b = append(w.b, p...) }

// time_t: Unix seconds; the zero time is 0.
func (w *w) timeT(t time.Time) {
	if t.IsZero() {
		w.u64(0)
		return
	}
	w.u64(uint64(t.Unix()))
}

// octet writes s in GBK, right-padded with 0x00 (or cut) to n bytes.
func (w *w) octet(s string, n int) {
	enc, err := simplifiedchinese.GBK.NewEncoder().String(s)
	if err != nil {
		enc = asciiOnly(s)
	}
	p := make([]byte, n)
	copy(p, enc)
	w.b = append(w.b, p...)
}

// gbk writes s in GBK (variable length, for INFO_CONTENT).
func gbk(s string) []byte {
	enc, err := simplifiedchinese.GBK.NewEncoder().String(s)
	if err != nil {
		enc = asciiOnly(s)
	}
	return []byte(enc)
}

func asciiOnly(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] < 0x80 {
			out = append(out, s[i])
		} else {
			out = append(out, '?')
		}
	}
	return string(out)
}

// r reads a body; the first failure sticks and every later read returns zero.
type r struct {
	b   []byte
	err error
}

func (r *r) need(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = fmt.Errorf("%w: %s needs %d bytes, %d left", ErrBody, what, n, len(r.b))
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *r) u8(what string) uint8 {
	if p := r.need(1, what); p != nil {
		return p[0]
	}
	return 0
}

func (r *r) u16(what string) uint16 {
	if p := r.need(2, what); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *r) u32(what string) uint32 {
	if p := r.need(4, what); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *r) u64(what string) uint64 {
	if p := r.need(8, what); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *r) timeT(what string) time.Time {
	v := r.u64(what)
	if v == 0 || v > 1<<40 {
		return time.Time{}
	}
	return time.Unix(int64(v), 0).UTC()
}

// octet reads n bytes of GBK text, trimmed at the first 0x00.
func (r *r) octet(n int, what string) string {
	p := r.need(n, what)
	if p == nil {
		return ""
	}
	return decodeGBK(p)
}

// content reads a u32 length and that many bytes of GBK text (at most max).
func (r *r) content(max int, what string) string {
	n := r.u32(what + " length")
	if r.err == nil && n > uint32(max) {
		r.err = fmt.Errorf("%w: %s length %d over %d", ErrBody, what, n, max)
		return ""
	}
	p := r.need(int(n), what)
	if p == nil {
		return ""
	}
	return decodeGBK(p)
}

func decodeGBK(p []byte) string {
	if i := bytes.IndexByte(p, 0); i >= 0 {
		p = p[:i]
	}
	s, err := simplifiedchinese.GBK.NewDecoder().Bytes(p)
	if err != nil {
		return string(bytes.ToValidUTF8(p, []byte("?")))
	}
	return string(s)
}

func (r *r) done(what string) error {
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %s has %d trailing bytes", ErrBody, what, len(r.b))
	}
	return nil
}

// MaxInfo bounds INFO_CONTENT (STD11 says at most 1024 bytes for alarm information).
const MaxInfo = 4096
