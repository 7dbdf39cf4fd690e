// Package jt808 is a pure codec for JT/T 808 (2011, 2013 and 2019): 0x7e framing, 0x7d
// escapes, the XOR check code, both header layouts, subpackage reassembly, the terminal
// messages a tracking gateway needs (registration, authentication, heartbeat, location report,
// batch location upload, CAN bus data) and the platform replies (0x8001, 0x8100, 0x8004).
// It does no I/O and reads no clock; every decoder checks lengths and never panics on input.
package jt808

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Message IDs handled by this package.
const (
	MsgTerminalResponse = 0x0001 // terminal general response
	MsgHeartbeat        = 0x0002
	MsgDeregister       = 0x0003
	MsgQueryTime        = 0x0004 // 2019: query server time
	MsgRegister         = 0x0100
	MsgAuth             = 0x0102
	MsgLocation         = 0x0200
	MsgBatchLocation    = 0x0704
	MsgCANData          = 0x0705
	MsgPlatformResponse = 0x8001 // platform general response
	MsgTimeResponse     = 0x8004
	MsgRegisterResponse = 0x8100
)

// Results of the platform general response 0x8001.
const (
	ResultOK          = 0
	ResultFailure     = 1
	ResultBadMessage  = 2
	ResultUnsupported = 3
	ResultAlarmAck    = 4
)

// Results of the registration response 0x8100.
const (
	RegisterOK                 = 0
	RegisterVehicleRegistered  = 1
	RegisterVehicleUnknown     = 2
	RegisterTerminalRegistered = 3
	RegisterTerminalUnknown    = 4
)

// Delimiter and escape bytes.
const (
	Flag   = 0x7e
	Escape = 0x7d
)

// MaxBody is the largest body of one packet (10-bit length field).
const MaxBody = 1023

// MaxFrame is the largest escaped frame content between two 0x7e flags: a 21-byte 2019
// subpackage header, a 1023-byte body and the check code, every byte escaped.
const MaxFrame = 2 * (21 + MaxBody + 1)

// Version is the header layout of a frame.
type Version uint8

// Header versions. 2011 and 2013 share the header; they differ only in some bodies.
const (
	V2013 Version = iota // 2011/2013 header: BCD[6] phone
	V2019                // 2019 header: version byte and BCD[10] phone
)

func (v Version) String() string {
	if v == V2019 {
		return "2019"
	}
	return "2013"
}

// Errors of frame decoding. Use errors.Is.
var (
	ErrShort    = errors.New("jt808: frame too short")
	ErrEscape   = errors.New("jt808: illegal 0x7d escape")
	ErrChecksum = errors.New("jt808: bad check code")
	ErrLength   = errors.New("jt808: body length does not match frame")
	ErrBody     = errors.New("jt808: malformed body")
)

// Header is a decoded message header.
type Header struct {
	MsgID uint16
	// Attr is the raw body-attributes word.
	Attr uint16
	// BodyLen is the body length of this packet (attr bits 0–9).
	BodyLen int
	// Encryption is attr bits 10–12 (0 none, 1 RSA).
	Encryption uint8
	// Subpackaged is attr bit 13; Total and Index are then set.
	Subpackaged bool
	// Version is the header layout; ProtocolVersion the 2019 version byte.
	Version         Version
	ProtocolVersion uint8
	// StrayVersionBit is set for a 2013-shaped header whose attr bit 14 is set (seen on real devices).
	StrayVersionBit bool
	// Phone is the terminal phone number as the hex string of its BCD bytes: 12 digits (2013)
	// or 20 digits (2019). A nibble above 9 shows up as a hex letter.
	Phone  string
	Serial uint16
	Total  uint16
	Index  uint16
}

// Len returns the encoded header length.
func (h *Header) Len() int {
	n := 12
	if h.Version == V2019 {
		n = 17
	}
	if h.Subpackaged {
		n += 4
	}
	return n
}

// TerminalID returns the normalised terminal id: the phone digits with leading zeros dropped
// ("0" when all digits are zero). ok is false when the phone is not all decimal digits.
func (h *Header) TerminalID() (id string, ok bool) {
	return NormalizePhone(h.Phone)
}

// NormalizePhone drops leading zeros from a BCD phone string; ok is false if it has a non-digit.
func NormalizePhone(phone string) (string, bool) {
	if phone == "" {
		return "", false
	}
	i := 0
	for i < len(phone)-1 && phone[i] == '0' {
		i++
	}
	for j := 0; j < len(phone); j++ {
		if phone[j] < '0' || phone[j] > '9' {
			return "", false
		}
	}
	return phone[i:], true
}

// Frame is one decoded message (or one packet of a subpackaged message).
type Frame struct {
	Header Header
	Body   []byte
}

// Unescape appends the unescaped form of src to dst: 7d 01 → 7d, 7d 02 → 7e. Any other
// byte after 0x7d, a trailing 0x7d, or a raw 0x7e is ErrEscape.
func Unescape(dst, src []byte) ([]byte, error) {
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case Escape:
			if i+1 >= len(src) {
				return dst, ErrEscape
			}
			i++
			switch src[i] {
			case 0x01:
				dst = append(dst, Escape)
			case 0x02:
				dst = append(dst, Flag)
			default:
				return dst, ErrEscape
			}
		case Flag:
			return dst, ErrEscape
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}

// AppendEscaped appends src to dst with 0x7d and 0x7e escaped.
func AppendEscaped(dst, src []byte) []byte {
	for _, c := range src {
		switch c {
		case Escape:
			dst = append(dst, Escape, 0x01)
		case Flag:
			dst = append(dst, Escape, 0x02)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// Checksum returns the XOR of b.
func Checksum(b []byte) byte {
	var x byte
	for _, c := range b {
		x ^= c
	}
	return x
}

// DecodeFrame decodes one frame: the escaped bytes between two 0x7e flags (flags at either
// end are tolerated and stripped). It unescapes, verifies the check code, tells the header
// version apart and checks that header + body + check code fill the frame exactly.
//
// Version rule: attr bit 14 set and 17(+4) + len + 1 equal to the unescaped length ⇒ 2019;
// otherwise, if 12(+4) + len + 1 fits ⇒ a 2013 header with a stray bit 14; bit 14 clear ⇒ 2013.
//
// On error, readable reports whether the returned frame's Header could still be read
// (so that a 0x8001 result 2 can be addressed); Body is then nil.
func DecodeFrame(b []byte) (f Frame, readable bool, err error) {
	if len(b) > 0 && b[0] == Flag {
		b = b[1:]
	}
	if len(b) > 0 && b[len(b)-1] == Flag {
		b = b[:len(b)-1]
	}
	if len(b) > MaxFrame {
		return Frame{}, false, ErrLength
	}
	var stack [MaxFrame]byte
	raw, err := Unescape(stack[:0], b)
	if err != nil {
		// The header may still be readable from the bytes before the bad escape.
		h, ok := readHeaderLoose(raw)
		return Frame{Header: h}, ok, err
	}
	if len(raw) < 13 {
		return Frame{}, false, ErrShort
	}
	payload, check := raw[:len(raw)-1], raw[len(raw)-1]
	h, ok := parseHeader(payload)
	if Checksum(payload) != check {
		if !ok {
			h, ok = readHeaderLoose(payload)
		}
		return Frame{Header: h}, ok, ErrChecksum
	}
	if !ok {
		h, ok = readHeaderLoose(payload)
		return Frame{Header: h}, ok, ErrLength
	}
	body := make([]byte, h.BodyLen)
	copy(body, payload[h.Len():])
	return Frame{Header: h, Body: body}, true, nil
}

// parseHeader reads the header of an unescaped payload (header + body, no check code) and
// succeeds only when the body length fits exactly.
func parseHeader(p []byte) (Header, bool) {
	if len(p) < 12 {
		return Header{}, false
	}
	attr := binary.BigEndian.Uint16(p[2:4])
	sub := attr&(1<<13) != 0
	bodyLen := int(attr & 0x3ff)
	extra := 0
	if sub {
		extra = 4
	}
	if attr&(1<<14) != 0 && 17+extra+bodyLen == len(p) {
		return readHeader(p, V2019), true
	}
	if 12+extra+bodyLen == len(p) {
		h := readHeader(p, V2013)
		h.StrayVersionBit = attr&(1<<14) != 0
		return h, true
	}
	return Header{}, false
}

// readHeaderLoose reads whatever header fits in p, guessing the version from bit 14 and the
// phone digits; ok is false when not even a 2013 header fits.
func readHeaderLoose(p []byte) (Header, bool) {
	if len(p) < 12 {
		return Header{}, false
	}
	attr := binary.BigEndian.Uint16(p[2:4])
	if attr&(1<<14) != 0 && len(p) >= 17 {
		h := readHeader(p, V2019)
		if _, ok := h.TerminalID(); ok {
			return h, true
		}
	}
	h := readHeader(p, V2013)
	h.StrayVersionBit = attr&(1<<14) != 0
	return h, true
}

// readHeader reads a header of version v; p must hold at least the fixed part.
func readHeader(p []byte, v Version) Header {
	attr := binary.BigEndian.Uint16(p[2:4])
	h := Header{
		MsgID:       binary.BigEndian.Uint16(p[0:2]),
		Attr:        attr,
		BodyLen:     int(attr & 0x3ff),
		Encryption:  uint8(attr >> 10 & 0x7),
		Subpackaged: attr&(1<<13) != 0,
		Version:     v,
	}
	off := 4
	if v == V2019 {
		h.ProtocolVersion = p[4]
		h.Phone = bcdString(p[5:15])
		off = 15
	} else {
		h.Phone = bcdString(p[4:10])
		off = 10
	}
	h.Serial = binary.BigEndian.Uint16(p[off : off+2])
	off += 2
	if h.Subpackaged && len(p) >= off+4 {
		h.Total = binary.BigEndian.Uint16(p[off : off+2])
		h.Index = binary.BigEndian.Uint16(p[off+2 : off+4])
	}
	return h
}

const hexDigits = "0123456789abcdef"

func bcdString(b []byte) string {
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i] = hexDigits[c>>4]
		out[2*i+1] = hexDigits[c&0xf]
	}
	return string(out)
}

// phoneBCD encodes a phone string into n BCD bytes, left-padding with zeros (hex letters are
// kept as nibbles so a reply echoes what the terminal sent).
func phoneBCD(phone string, n int) []byte {
	digits := make([]byte, 2*n)
	for i := range digits {
		digits[i] = 0
	}
	// Right-align; drop excess leading digits.
	j := len(digits) - 1
	for i := len(phone) - 1; i >= 0 && j >= 0; i-- {
		digits[j] = nibble(phone[i])
		j--
	}
	out := make([]byte, n)
	for i := range out {
		out[i] = digits[2*i]<<4 | digits[2*i+1]
	}
	return out
}

func nibble(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}

// Encode builds a complete frame (flags included) for a message with the given id, serial
// and body, using the terminal's header: its version, 2019 protocol version and phone. Bodies
// longer than MaxBody are an error (platform replies are far smaller).
func Encode(term Header, msgID, serial uint16, body []byte) ([]byte, error) {
	if len(body) > MaxBody {
		return nil, fmt.Errorf("jt808: body of %d bytes exceeds %d", len(body), MaxBody)
	}
	attr := uint16(len(body))
	p := make([]byte, 0, 17+len(body)+1)
	p = binary.BigEndian.AppendUint16(p, msgID)
	if term.Version == V2019 {
		attr |= 1 << 14
		p = binary.BigEndian.AppendUint16(p, attr)
		p = append(p, term.ProtocolVersion)
		p = append(p, phoneBCD(term.Phone, 10)...)
	} else {
		p = binary.BigEndian.AppendUint16(p, attr)
		p = append(p, phoneBCD(term.Phone, 6)...)
	}
	p = binary.BigEndian.AppendUint16(p, serial)
	p = append(p, body...)
	p = append(p, Checksum(p))
	out := make([]byte, 0, 2*len(p)+2)
	out = append(out, Flag)
	out = AppendEscaped(out, p)
	return append(out, Flag), nil
}

// GeneralResponse builds a 0x8001 platform general response answering the terminal message
// with header term (its serial and message id), sent with platform serial serial.
func GeneralResponse(term Header, serial uint16, result byte) []byte {
	body := make([]byte, 0, 5)
	body = binary.BigEndian.AppendUint16(body, term.Serial)
	body = binary.BigEndian.AppendUint16(body, term.MsgID)
	body = append(body, result)
	b, _ := Encode(term, MsgPlatformResponse, serial, body)
	return b
}

// RegisterResponse builds a 0x8100 registration response; the auth code is sent only with
// result RegisterOK and is truncated to fit one packet.
func RegisterResponse(term Header, serial uint16, result byte, authCode string) []byte {
	body := make([]byte, 0, 3+len(authCode))
	body = binary.BigEndian.AppendUint16(body, term.Serial)
	body = append(body, result)
	if result == RegisterOK {
		if len(authCode) > MaxBody-3 {
			authCode = authCode[:MaxBody-3]
		}
		body = append(body, authCode...)
	}
	b, _ := Encode(term, MsgRegisterResponse, serial, body)
	return b
}

// TimeResponse builds a 0x8004 server-time response (2019): BCD[6] YYMMDDhhmmss in UTC.
func TimeResponse(term Header, serial uint16, year, month, day, hour, min, sec int) []byte {
	body := []byte{bcdByte(year % 100), bcdByte(month), bcdByte(day), bcdByte(hour), bcdByte(min), bcdByte(sec)}
	b, _ := Encode(term, MsgTimeResponse, serial, body)
	return b
}

func bcdByte(v int) byte { return byte(v/10%10)<<4 | byte(v%10) }

// Splitter cuts a byte stream into frames on 0x7e. Bytes before the first flag are garbage;
// every flag is a boundary, so back-to-back "7e7e" and a flag shared by two frames both
// work, and empty gaps are skipped. A run longer than MaxFrame without a flag is discarded
// up to the next flag, so a splitter's memory stays bounded. The zero value is ready to use.
type Splitter struct {
	buf      []byte
	started  bool // a flag has been seen
	skipping bool // discarding an oversized run
	// Dropped counts the bytes discarded: leading garbage and oversized runs.
	Dropped int
}

// Feed consumes p and calls emit for every complete frame (the escaped content between two
// flags, without them). emit must not retain the slice.
func (s *Splitter) Feed(p []byte, emit func(frame []byte)) {
	for len(p) > 0 {
		i := indexFlag(p)
		if i < 0 {
			s.take(p)
			return
		}
		s.take(p[:i])
		s.flag(emit)
		p = p[i+1:]
	}
}

func (s *Splitter) take(p []byte) {
	if len(p) == 0 {
		return
	}
	if !s.started || s.skipping {
		s.Dropped += len(p)
		return
	}
	if len(s.buf)+len(p) > MaxFrame {
		s.Dropped += len(s.buf) + len(p)
		s.buf = s.buf[:0]
		s.skipping = true
		return
	}
	s.buf = append(s.buf, p...)
}

func (s *Splitter) flag(emit func([]byte)) {
	if s.started && !s.skipping && len(s.buf) > 0 {
		emit(s.buf)
	}
	s.buf = s.buf[:0]
	s.skipping = false
	s.started = true
}

// Pending returns the number of buffered bytes of an unfinished frame.
func (s *Splitter) Pending() int { return len(s.buf) }

func indexFlag(p []byte) int {
	for i, c := range p {
		if c == Flag {
			return i
		}
	}
	return -1
}
