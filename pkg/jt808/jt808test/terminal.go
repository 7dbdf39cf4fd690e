// Package jt808test is test support for JT/T 808: a simulated terminal that speaks the
// protocol over a real TCP connection (Terminal) and builders for the bodies and frames such a
// terminal sends (Location, Batch, CAN, Rewrite, Wrap). It is meant for tests only — of
// pkg/jt808/gateway and of the corridor command's end-to-end ingest tests — and is not used by
// any production code.
//
// Every helper takes a testing.TB and fails the test (t.Fatal) rather than return errors, and
// reports the caller's line (t.Helper).
package jt808test

import (
	"encoding/binary"
	"encoding/hex"
	"net"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/jt808"
)

// Timeout bounds dialling, each write and each wait for a reply of a Terminal.
const Timeout = 10 * time.Second

// FirstSerial is the serial of the first message a Terminal made by Dial sends.
const FirstSerial = 101

// Terminal is a simulated JT/T 808 device on a TCP connection. Its exported fields may be
// changed between calls (for example a copy with another Header.Phone sends as another
// terminal on the same connection). It is not safe for concurrent use.
type Terminal struct {
	// Conn is the connection to the platform; it is closed when the test ends.
	Conn net.Conn
	// Header is the header the terminal sends with (Version, ProtocolVersion and Phone are
	// used) and the one replies must be addressed to.
	Header jt808.Header
	// Serial is the serial of the last message sent; the next one gets Serial+1.
	Serial uint16

	t     testing.TB
	split jt808.Splitter
	queue []jt808.Frame
}

// Dial connects a terminal with header version v and BCD phone phone (12 hex digits for
// V2013, 20 for V2019) to addr. A V2019 terminal sends protocol version 1. The connection is
// closed at the end of the test.
func Dial(t testing.TB, addr string, v jt808.Version, phone string) *Terminal {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, Timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := jt808.Header{Version: v, Phone: phone}
	if v == jt808.V2019 {
		h.ProtocolVersion = 1
	}
	return &Terminal{Conn: c, Header: h, Serial: FirstSerial - 1, t: t}
}

// Frame returns the wire form (flags included) of a message with the next serial, and that
// serial, without sending it.
func (tm *Terminal) Frame(msgID uint16, body []byte) ([]byte, uint16) {
	tm.t.Helper()
	tm.Serial++
	b, err := jt808.Encode(tm.Header, msgID, tm.Serial, body)
	if err != nil {
		tm.t.Fatal(err)
	}
	return b, tm.Serial
}

// Send sends a message with the next serial and returns that serial.
func (tm *Terminal) Send(msgID uint16, body []byte) uint16 {
	tm.t.Helper()
	b, serial := tm.Frame(msgID, body)
	tm.Write(b)
	return serial
}

// SendPacket sends one packet (index of total, counting from 1) of a subpackaged message with
// the next serial and returns that serial. The header is built here: jt808.Encode writes
// unsplit messages only.
func (tm *Terminal) SendPacket(msgID, total, index uint16, body []byte) uint16 {
	tm.t.Helper()
	tm.Serial++
	attr := uint16(len(body)) | 1<<13
	if tm.Header.Version == jt808.V2019 {
		attr |= 1 << 14
	}
	p := binary.BigEndian.AppendUint16(nil, msgID)
	p = binary.BigEndian.AppendUint16(p, attr)
	if tm.Header.Version == jt808.V2019 {
		p = append(p, tm.Header.ProtocolVersion)
	}
	phone, err := hex.DecodeString(tm.Header.Phone)
	if err != nil {
		tm.t.Fatalf("terminal phone %q: %v", tm.Header.Phone, err)
	}
	p = append(p, phone...)
	p = binary.BigEndian.AppendUint16(p, tm.Serial)
	p = binary.BigEndian.AppendUint16(p, total)
	p = binary.BigEndian.AppendUint16(p, index)
	p = append(p, body...)
	tm.Write(Wrap(append(p, jt808.Checksum(p))))
	return tm.Serial
}

// Write writes raw bytes (whole frames, broken frames or garbage) to the connection.
func (tm *Terminal) Write(b []byte) {
	tm.t.Helper()
	_ = tm.Conn.SetWriteDeadline(time.Now().Add(Timeout))
	if _, err := tm.Conn.Write(b); err != nil {
		tm.t.Fatal(err)
	}
}

// Recv returns the next frame from the platform, waiting at most Timeout. A frame that does
// not decode is a test error. Recv does not check whom the frame is addressed to.
func (tm *Terminal) Recv() jt808.Frame {
	tm.t.Helper()
	buf := make([]byte, 2048)
	deadline := time.Now().Add(Timeout)
	for len(tm.queue) == 0 {
		_ = tm.Conn.SetReadDeadline(deadline)
		n, err := tm.Conn.Read(buf)
		tm.split.Feed(buf[:n], func(b []byte) {
			f, _, err := jt808.DecodeFrame(b)
			if err != nil {
				tm.t.Errorf("terminal %s: platform sent a bad frame %x: %v", tm.Header.Phone, b, err)
				return
			}
			tm.queue = append(tm.queue, f)
		})
		if err != nil && len(tm.queue) == 0 {
			tm.t.Fatalf("terminal %s: read: %v", tm.Header.Phone, err)
		}
	}
	f := tm.queue[0]
	tm.queue = tm.queue[1:]
	return f
}

// General reads the next frame, checks that it is a 0x8001 addressed to this terminal (see
// CheckReply) answering (serial, msgID), and returns its result.
func (tm *Terminal) General(serial, msgID uint16) byte {
	tm.t.Helper()
	f := tm.Recv()
	if f.Header.MsgID != jt808.MsgPlatformResponse || len(f.Body) != 5 {
		tm.t.Fatalf("want 0x8001 answering %#04x serial %d, got %#04x body %x", msgID, serial, f.Header.MsgID, f.Body)
	}
	tm.CheckReply(f.Header)
	gotSerial, gotID := binary.BigEndian.Uint16(f.Body[0:2]), binary.BigEndian.Uint16(f.Body[2:4])
	if gotSerial != serial || gotID != msgID {
		tm.t.Fatalf("0x8001 answers serial %d msg %#04x, want serial %d msg %#04x", gotSerial, gotID, serial, msgID)
	}
	return f.Body[4]
}

// ExpectGeneral is General that also requires the result.
func (tm *Terminal) ExpectGeneral(serial, msgID uint16, result byte) {
	tm.t.Helper()
	if got := tm.General(serial, msgID); got != result {
		tm.t.Fatalf("0x8001 to %#04x serial %d: result %d, want %d", msgID, serial, got, result)
	}
}

// CheckReply fails the test unless h, the header of a platform reply, is addressed to this
// terminal: the same header version, protocol version and phone.
func (tm *Terminal) CheckReply(h jt808.Header) {
	tm.t.Helper()
	if h.Version != tm.Header.Version || h.Phone != tm.Header.Phone || h.ProtocolVersion != tm.Header.ProtocolVersion {
		tm.t.Fatalf("reply header %+v does not match the terminal's %+v", h, tm.Header)
	}
}

// Register sends a 0x0100 registration (2019 body layout for a V2019 header, 2013 otherwise;
// province 50, yellow plate 渝A12345), reads the 0x8100 answering it, and returns its result
// and auth code.
func (tm *Terminal) Register() (result byte, authCode string) {
	tm.t.Helper()
	body := []byte{0, 50, 0x01, 0x00} // province 50 (Chongqing), city 0x0100
	if tm.Header.Version == jt808.V2019 {
		body = append(body, pad("CORRIDOR", 11)...)
		body = append(body, pad("HZ-808", 30)...)
		body = append(body, pad("T0001", 30)...)
	} else {
		body = append(body, pad("CORR", 5)...)
		body = append(body, pad("HZ-808", 20)...)
		body = append(body, pad("T0001", 7)...)
	}
	body = append(body, 2, 0xd3, 0xe5, 'A', '1', '2', '3', '4', '5') // yellow plate 渝A12345 (GBK)
	serial := tm.Send(jt808.MsgRegister, body)
	f := tm.Recv()
	if f.Header.MsgID != jt808.MsgRegisterResponse || len(f.Body) < 3 {
		tm.t.Fatalf("want 0x8100, got %#04x body %x", f.Header.MsgID, f.Body)
	}
	tm.CheckReply(f.Header)
	if got := binary.BigEndian.Uint16(f.Body[0:2]); got != serial {
		tm.t.Fatalf("0x8100 answers serial %d, want %d", got, serial)
	}
	return f.Body[2], string(f.Body[3:])
}

// Auth sends a 0x0102 authentication with code (for a V2019 header the 2019 layout: length
// byte, code, IMEI, software version; otherwise the bare code) and requires a 0x8001 result 0.
func (tm *Terminal) Auth(code string) {
	tm.t.Helper()
	var body []byte
	if tm.Header.Version == jt808.V2019 {
		body = append([]byte{byte(len(code))}, code...)
		body = append(body, "860000000000001"...)
		body = append(body, pad("1.0.0", 20)...)
	} else {
		body = []byte(code)
	}
	s := tm.Send(jt808.MsgAuth, body)
	tm.ExpectGeneral(s, jt808.MsgAuth, jt808.ResultOK)
}

// pad returns s in a zero-padded field of n bytes.
func pad(s string, n int) []byte {
	b := make([]byte, n)
	copy(b, s)
	return b
}
