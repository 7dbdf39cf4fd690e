package jt808

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The escape example of JT/T 808-2013 §4.4.2: 30 7e 08 7d 55 → 30 7d 02 08 7d 01 55.
func TestEscapeStandardExample(t *testing.T) {
	in := mustHex(t, "307e087d55")
	esc := AppendEscaped(nil, in)
	if want := mustHex(t, "307d02087d0155"); !bytes.Equal(esc, want) {
		t.Fatalf("escaped %x, want %x", esc, want)
	}
	back, err := Unescape(nil, esc)
	if err != nil || !bytes.Equal(back, in) {
		t.Fatalf("unescaped %x %v", back, err)
	}
	for _, bad := range []string{"7d", "7d03", "307d00", "7e"} {
		if _, err := Unescape(nil, mustHex(t, bad)); !errors.Is(err, ErrEscape) {
			t.Errorf("Unescape(%s) = %v, want ErrEscape", bad, err)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	for _, tt := range []struct {
		in, out string
		ok      bool
	}{
		{"013812345678", "13812345678", true},
		{"00000000000123456789", "123456789", true},
		{"000000000000", "0", true},
		{"4f07788ef676", "", false},
		{"", "", false},
	} {
		got, ok := NormalizePhone(tt.in)
		if got != tt.out || ok != tt.ok {
			t.Errorf("NormalizePhone(%q) = %q %v", tt.in, got, ok)
		}
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, h := range []Header{
		{Version: V2013, Phone: "013812345678", Serial: 0x7e7d},
		{Version: V2019, ProtocolVersion: 1, Phone: "00000000013812345678", Serial: 65535},
	} {
		body := []byte{0x7e, 0x7d, 0x00, 0x01, 0x02, 0x7e}
		b, err := Encode(h, MsgLocation, h.Serial, body)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Count(b, []byte{Flag}) != 2 {
			t.Fatalf("flags inside %x", b)
		}
		f, _, err := DecodeFrame(b)
		if err != nil {
			t.Fatalf("%v: %x", err, b)
		}
		if f.Header.Version != h.Version || f.Header.Phone != h.Phone || f.Header.Serial != h.Serial || !bytes.Equal(f.Body, body) {
			t.Errorf("round trip %+v %x", f.Header, f.Body)
		}
	}
	if _, err := Encode(Header{}, 1, 1, make([]byte, MaxBody+1)); err == nil {
		t.Error("oversized body accepted")
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	good := mustHex(t, "7e0002000004304832546500b7ca7e") // Traccar heartbeat
	if _, _, err := DecodeFrame(good); err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), good...)
	bad[len(bad)-2] ^= 1
	f, readable, err := DecodeFrame(bad)
	if !errors.Is(err, ErrChecksum) || !readable || f.Header.Serial != 0xb7 || f.Header.MsgID != MsgHeartbeat {
		t.Errorf("bad check: %v %v %+v", err, readable, f.Header)
	}
	// Body length 1 claimed, 0 present: checksum right, length wrong.
	p := mustHex(t, "0002000104304832546500b7")
	frame := append([]byte{Flag}, AppendEscaped(nil, append(p, Checksum(p)))...)
	frame = append(frame, Flag)
	if _, readable, err := DecodeFrame(frame); !errors.Is(err, ErrLength) || !readable {
		t.Errorf("length: %v %v", err, readable)
	}
	for _, s := range []string{"", "7e7e", "7e00017e", "7e0002000004304832546500b77d037e"} {
		if _, _, err := DecodeFrame(mustHex(t, s)); err == nil {
			t.Errorf("DecodeFrame(%s) accepted", s)
		}
	}
	if _, _, err := DecodeFrame(make([]byte, MaxFrame+10)); err == nil {
		t.Error("oversized frame accepted")
	}
}

// A 2019 header whose body length does not fit as 2019 but fits as 2013 is a 2013 frame with
// a stray bit 14; a genuine 2019 frame stays 2019.
func TestVersionDetection(t *testing.T) {
	h13 := Header{Version: V2013, Phone: "010030000681", Serial: 9}
	b, _ := Encode(h13, MsgHeartbeat, 9, nil)
	raw, _ := Unescape(nil, b[1:len(b)-1])
	raw[2] |= 0x40 // set bit 14
	raw[len(raw)-1] = Checksum(raw[:len(raw)-1])
	frame := append(append([]byte{Flag}, AppendEscaped(nil, raw)...), Flag)
	f, _, err := DecodeFrame(frame)
	if err != nil || f.Header.Version != V2013 || !f.Header.StrayVersionBit || f.Header.Phone != "010030000681" {
		t.Errorf("stray bit: %+v %v", f.Header, err)
	}
	h19 := Header{Version: V2019, ProtocolVersion: 1, Phone: "00000000017299841738"}
	b, _ = Encode(h19, MsgHeartbeat, 1, nil)
	if f, _, err = DecodeFrame(b); err != nil || f.Header.Version != V2019 || f.Header.ProtocolVersion != 1 {
		t.Errorf("2019: %+v %v", f.Header, err)
	}
}

func TestSplitter(t *testing.T) {
	hb := mustHex(t, "7e0002000004304832546500b7ca7e")
	var stream []byte
	stream = append(stream, "garbage\x00\x01"...)
	stream = append(stream, hb...)
	stream = append(stream, hb...) // back-to-back: ...7e7e...
	stream = append(stream, 0x7e, 0x7e, 0x7e)
	stream = append(stream, hb[:len(hb)-1]...) // shares the next frame's opening flag
	stream = append(stream, hb...)
	var s Splitter
	var got [][]byte
	// Feed byte by byte to exercise partial frames.
	for i := range stream {
		s.Feed(stream[i:i+1], func(f []byte) { got = append(got, append([]byte(nil), f...)) })
	}
	if len(got) != 4 {
		t.Fatalf("got %d frames: %x", len(got), got)
	}
	for _, f := range got {
		if _, _, err := DecodeFrame(f); err != nil {
			t.Errorf("%x: %v", f, err)
		}
	}
	if s.Dropped != 9 {
		t.Errorf("dropped %d", s.Dropped)
	}
	// An endless run without a flag is discarded and memory stays bounded.
	s = Splitter{}
	s.Feed([]byte{0x7e}, func([]byte) {})
	junk := bytes.Repeat([]byte{0x55}, 10*MaxFrame)
	n := 0
	s.Feed(junk, func([]byte) { n++ })
	if s.Pending() > MaxFrame || n != 0 || s.Dropped != len(junk) {
		t.Errorf("pending %d, emitted %d", s.Pending(), n)
	}
	s.Feed(hb, func(f []byte) { n++ }) // the junk's end flag, then one good frame
	if n != 1 {
		t.Errorf("after junk: %d frames", n)
	}
}

func TestReassembler(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var r Reassembler
	part := func(idx, serial uint16, body string) Frame {
		return Frame{Header: Header{MsgID: MsgBatchLocation, Phone: "013812345678", Subpackaged: true, Total: 3, Index: idx, Serial: serial}, Body: []byte(body)}
	}
	for i, p := range []Frame{part(2, 11, "bb"), part(1, 10, "aa")} {
		if _, done, err := r.Add(p, now); done || err != nil {
			t.Fatalf("part %d: done %v err %v", i, done, err)
		}
	}
	msg, done, err := r.Add(part(3, 12, "c"), now)
	if !done || err != nil || string(msg.Body) != "aabbc" || msg.Header.Serial != 12 || msg.Header.Subpackaged || msg.Header.BodyLen != 5 {
		t.Fatalf("joined %+v %q %v %v", msg.Header, msg.Body, done, err)
	}
	if r.Pending() != 0 {
		t.Errorf("pending %d", r.Pending())
	}
	// Bad indexes.
	for _, p := range []Frame{part(0, 1, ""), part(4, 1, "")} {
		if _, _, err := r.Add(p, now); !errors.Is(err, ErrPackage) {
			t.Errorf("index %d: %v", p.Header.Index, err)
		}
	}
	// Timeout drops a partial message.
	r.Add(part(1, 1, "x"), now)
	r.Add(part(2, 2, "y"), now.Add(DefaultTimeout+time.Second))
	if r.Pending() != 1 || r.Expired != 1 {
		t.Errorf("after timeout: pending %d expired %d", r.Pending(), r.Expired)
	}
	// Bounded pending messages.
	r = Reassembler{MaxPending: 2}
	for i := 0; i < 5; i++ {
		p := part(1, 1, "z")
		p.Header.Phone = strings.Repeat(string(rune('1'+i)), 12)
		r.Add(p, now.Add(time.Duration(i)*time.Second))
	}
	if r.Pending() != 2 || r.Expired != 3 {
		t.Errorf("bounded: pending %d expired %d", r.Pending(), r.Expired)
	}
	// Bounded bytes per reassembler (each packet costs its body and PartOverhead).
	r = Reassembler{MaxBytes: 2*PartOverhead + 4}
	r.Add(part(1, 1, "abc"), now)
	if _, _, err := r.Add(part(2, 2, "de"), now); !errors.Is(err, ErrLimit) || r.Pending() != 0 {
		t.Errorf("byte limit: %v pending %d", err, r.Pending())
	}
	if parts, bytes := r.Held(); parts != 0 || bytes != 0 {
		t.Errorf("after the byte limit: held %d parts %d bytes", parts, bytes)
	}
	// A total above the part limit is refused at once; parts are bounded over all messages.
	big := part(1, 1, "")
	big.Header.Total = 65535
	if _, _, err := r.Add(big, now); !errors.Is(err, ErrPackage) || r.Pending() != 0 {
		t.Errorf("total 65535: %v pending %d", err, r.Pending())
	}
	r = Reassembler{MaxParts: 3}
	r.Add(part(1, 1, ""), now)
	p2 := part(1, 1, "")
	p2.Header.MsgID = MsgLocation
	r.Add(p2, now)
	r.Add(part(2, 1, ""), now)
	if _, _, err := r.Add(Frame{Header: Header{MsgID: MsgCANData, Phone: "1", Subpackaged: true, Total: 2, Index: 1}}, now); !errors.Is(err, ErrLimit) {
		t.Errorf("part limit: %v", err)
	}
	// A shared budget bounds several reassemblers; Reset gives the bytes back.
	b := NewBudget(3 * PartOverhead)
	r1, r2 := Reassembler{Budget: b}, Reassembler{Budget: b}
	r1.Add(part(1, 1, ""), now)
	r1.Add(part(2, 1, ""), now)
	r2.Add(part(1, 1, ""), now)
	if _, _, err := r2.Add(part(2, 1, ""), now); !errors.Is(err, ErrLimit) || b.Used() != 2*PartOverhead {
		t.Errorf("budget: %v used %d", err, b.Used())
	}
	r1.Reset()
	if b.Used() != 0 || r1.Pending() != 0 {
		t.Errorf("after reset: used %d pending %d", b.Used(), r1.Pending())
	}
	// A plain frame passes through; a one-packet "subpackage" is complete at once.
	plain := Frame{Header: Header{MsgID: MsgHeartbeat}}
	if _, done, _ := r.Add(plain, now); !done {
		t.Error("plain frame not done")
	}
	one := part(1, 1, "q")
	one.Header.Total = 1
	if m, done, _ := r.Add(one, now); !done || string(m.Body) != "q" {
		t.Error("single packet not done")
	}
}

// SmallChi/JT808 · src/JT808.Protocol.Test/MessageBody/JT808_0x0705Test.cs body vector.
func TestParseCANSmallChi(t *testing.T) {
	c, err := ParseCAN(mustHex(t, "00022000050350001203040102030401020304050607080103040506070801"))
	if err != nil {
		t.Fatal(err)
	}
	want := 20*time.Hour + 5*time.Second + 350*time.Millisecond
	if c.Received != want || len(c.Items) != 2 {
		t.Fatalf("got %+v", c)
	}
	if c.Items[0].ID != 0x00120304 || c.Items[1].ID != 0x05060708 || c.Items[0].Extended || c.Items[1].Channel != 0 {
		t.Errorf("items %+v", c.Items)
	}
	if f := c.Items[0].Frame(); f.ID != "00120304" || f.Data != "0102030401020304" {
		t.Errorf("frame %+v", f)
	}
	if n := len(c.J1939Frames()); n != 0 {
		t.Errorf("standard frames exported as J1939: %d", n)
	}
}

// The constructed 0x0705 frame of the reference (JT808-J1939.md): one EEC1 frame, extended.
func TestParseCANReferenceFrame(t *testing.T) {
	f, _, err := DecodeFrame(mustHex(t, "7e070500130138123456780001000110301501234cf0040011223360096677887f7e"))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := f.Header.TerminalID(); id != "13812345678" || f.Header.MsgID != MsgCANData {
		t.Fatalf("header %+v", f.Header)
	}
	c, err := ParseCAN(f.Body)
	if err != nil {
		t.Fatal(err)
	}
	if c.Received != 10*time.Hour+30*time.Minute+15*time.Second+123*time.Millisecond {
		t.Errorf("received %v", c.Received)
	}
	fr := c.J1939Frames()
	if len(fr) != 1 || fr[0].ID != "0CF00400" || fr[0].Data != "1122336009667788" {
		t.Errorf("frames %+v", fr)
	}
	// Count larger than the items present: only complete items are read.
	if c, err := ParseCAN(mustHex(t, "0005103015012300")); err != nil || len(c.Items) != 0 {
		t.Errorf("short: %+v %v", c, err)
	}
	if _, err := ParseCAN([]byte{0, 1}); err == nil {
		t.Error("2-byte body accepted")
	}
}

func TestAlarmNames(t *testing.T) {
	seen := map[string]bool{}
	for bit := 0; bit < 32; bit++ {
		n := AlarmName(bit, V2013)
		if n == "" || strings.ToLower(n) != n || strings.ContainsAny(n, " -") {
			t.Errorf("bit %d: %q", bit, n)
		}
		if seen[n] {
			t.Errorf("duplicate %q", n)
		}
		seen[n] = true
	}
	if AlarmName(3, V2013) != "danger_warning" || AlarmName(3, V2019) != "dangerous_driving" ||
		AlarmName(29, V2019) != "collision_rollover" || AlarmName(8, V2019) != "power_cut" || AlarmName(32, V2013) != "" {
		t.Error("2019 redefinitions")
	}
	got := AlarmNames(1|1<<1|1<<2|1<<8|1<<31, V2013)
	if strings.Join(got, ",") != "emergency,overspeed,fatigue,power_cut,illegal_door_open" {
		t.Errorf("AlarmNames: %v", got)
	}
	if AlarmNames(0, V2013) != nil {
		t.Error("no alarms should be nil")
	}
}

func locationBody(status uint32, lat, lon uint32, speed, heading uint16, ts string, extras string) []byte {
	b := []byte{0, 0, 0, 0}
	b = append(b, byte(status>>24), byte(status>>16), byte(status>>8), byte(status))
	b = append(b, byte(lat>>24), byte(lat>>16), byte(lat>>8), byte(lat))
	b = append(b, byte(lon>>24), byte(lon>>16), byte(lon>>8), byte(lon))
	b = append(b, 0, 100, byte(speed>>8), byte(speed), byte(heading>>8), byte(heading))
	t, _ := hex.DecodeString(ts)
	b = append(b, t...)
	e, _ := hex.DecodeString(extras)
	return append(b, e...)
}

func TestLocationTimeZoneAndPosition(t *testing.T) {
	body := locationBody(3, 29500000, 106500000, 655, 90, "260115083000", "01040000271002020064030201f4300119310109")
	l, err := ParseLocation(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Time.UTC().Format(time.RFC3339); got != "2026-01-15T00:30:00Z" {
		t.Errorf("GMT+8 time → %s", got)
	}
	lu, _ := ParseLocation(body, time.UTC)
	if got := lu.Time.Format(time.RFC3339); got != "2026-01-15T08:30:00Z" {
		t.Errorf("UTC device time → %s", got)
	}
	p, err := l.Position(V2013)
	if err != nil {
		t.Fatal(err)
	}
	if p.Lat != 29.5 || p.Lon != 106.5 || *p.SpeedKmh != 65.5 || *p.HeadingDeg != 90 || *p.AltitudeM != 100 ||
		*p.OdometerKm != 1000 || *p.FuelL != 10 || *p.Satellites != 9 || !*p.Ignition || p.DeviceAlarms != nil {
		t.Errorf("position %+v", p)
	}
	if *l.TachoSpeedKmh != 50 || *l.RSSI != 25 {
		t.Errorf("tacho %v rssi %v", *l.TachoSpeedKmh, *l.RSSI)
	}
	// Implausible optional values are dropped, not the fix.
	l.SpeedKmh, l.Heading = 400, 400
	if p, err := l.Position(V2013); err != nil || p.SpeedKmh != nil || p.HeadingDeg != nil {
		t.Errorf("implausible: %+v %v", p, err)
	}
	// Bad coordinates and zero coordinates are not positions.
	for _, c := range [][2]uint32{{91e6, 0}, {0, 181e6}, {0, 0}} {
		l := Location{Status: StatusFixValid, LatRaw: c[0], LonRaw: c[1]}
		if _, err := l.Position(V2013); !errors.Is(err, ErrCoordinates) {
			t.Errorf("%v: %v", c, err)
		}
	}
	// Bad times: the report decodes (the terminal gets its answer) but is not a position.
	for _, ts := range []string{"000000000000", "2601150830aa", "261315083000", "260230083000", "260115250000", "260100083000"} {
		l, err := ParseLocation(locationBody(3, 1, 1, 0, 0, ts, ""), nil)
		if err != nil || !l.Time.IsZero() || hex.EncodeToString(l.RawTime[:]) != ts {
			t.Errorf("time %s: %v %v", ts, l.Time, err)
		}
		if _, err := l.Position(V2013); !errors.Is(err, ErrTime) {
			t.Errorf("time %s: Position %v", ts, err)
		}
	}
	// Known items with wrong lengths are skipped and counted.
	l, err = ParseLocation(locationBody(3, 1, 1, 0, 0, "260115083000", "0102000a31020101300105"), nil)
	if err != nil || l.BadItems != 2 || l.MileageKm != nil || l.Satellites != nil || *l.RSSI != 5 {
		t.Errorf("bad items: %+v %v", l, err)
	}
	if _, err := ParseLocation(body[:27], nil); err == nil {
		t.Error("27-byte body accepted")
	}
}

func TestParseBatchBroken(t *testing.T) {
	item := locationBody(3, 1, 1, 0, 0, "260115083000", "")
	var b []byte
	b = append(b, 0, 3, 1)
	b = append(b, 0, byte(len(item)))
	b = append(b, item...)
	b = append(b, 0, 5, 1, 2, 3, 4, 5) // too short for a location: skipped
	b = append(b, 0, 200, 1, 2)        // runs past the body: ends the list
	bt, err := ParseBatch(b, nil)
	if err != nil || !bt.Backfill() || len(bt.Items) != 1 || bt.Bad != 2 || bt.Count != 3 {
		t.Errorf("%+v %v", bt, err)
	}
	if _, err := ParseBatch([]byte{0, 1}, nil); err == nil {
		t.Error("short batch accepted")
	}
}

func TestParseAuth2019(t *testing.T) {
	body := append([]byte{4}, "abcd"...)
	body = append(body, "123456789012345"...)
	body = append(body, "1.2.3"...)
	body = append(body, make([]byte, 15)...)
	for _, v := range []Version{V2019, V2013} {
		a, err := ParseAuth(body, v)
		if err != nil || a.Code != "abcd" || a.IMEI != "123456789012345" || a.Software != "1.2.3" {
			t.Errorf("%v: %+v %v", v, a, err)
		}
	}
	if _, err := ParseAuth(nil, V2013); err == nil {
		t.Error("empty auth accepted")
	}
	if a, _ := ParseAuth([]byte{200, 'x'}, V2019); a.Code != "\xc8x" {
		t.Errorf("overlong length byte: %q", a.Code)
	}
}

func TestParseRegisterShort(t *testing.T) {
	if _, err := ParseRegister(make([]byte, 24), V2013); err == nil {
		t.Error("24-byte 0x0100 accepted")
	}
	// A 2019 header with a 2013-layout body falls back to the 2013 layout.
	if r, err := ParseRegister(make([]byte, 45), V2019); err != nil || r.Layout != 2013 {
		t.Errorf("2019 header, 45-byte body: %+v %v", r, err)
	}
}

func TestTimeResponse(t *testing.T) {
	h := Header{Version: V2019, ProtocolVersion: 1, Phone: "00000000017299841738", Serial: 3, MsgID: MsgQueryTime}
	f, _, err := DecodeFrame(TimeResponse(h, 9, 2026, 11, 27, 1, 2, 3))
	if err != nil || f.Header.MsgID != MsgTimeResponse || hex.EncodeToString(f.Body) != "261127010203" || f.Header.Version != V2019 {
		t.Errorf("%+v %x %v", f.Header, f.Body, err)
	}
}
