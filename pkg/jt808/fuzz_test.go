package jt808

import (
	"bytes"
	"math"
	"testing"
	"time"
)

// FuzzDecodeFrame drives the whole receive path — splitter, unescape, check code, header,
// reassembly and every body decoder — and checks that a decoded frame re-encodes to itself.
// Seeds: f.Add below plus testdata/fuzz/FuzzDecodeFrame (the real frames).
func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte("\x7e\x00\x02\x00\x00\x04\x30\x48\x32\x54\x65\x00\xb7\xca\x7e"))
	f.Add([]byte("\x7e\x7d\x03\x7e\x7e\x7d"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Splitter
		var r Reassembler
		now := time.Unix(1_700_000_000, 0)
		s.Feed(data, func(b []byte) {
			fr, _, err := DecodeFrame(b)
			if err != nil {
				return
			}

			if fr.Header.BodyLen != len(fr.Body) || fr.Header.BodyLen > MaxBody {
				t.Fatalf("body %d, header %d", len(fr.Body), fr.Header.BodyLen)
			}
			if !fr.Header.Subpackaged && fr.Header.Encryption == 0 {
				// Re-encoding gives a frame that decodes to the same message.
				enc, err := Encode(fr.Header, fr.Header.MsgID, fr.Header.Serial, fr.Body)
				if err != nil {
					t.Fatal(err)
				}
				back, _, err := DecodeFrame(enc)
				if err != nil {
					t.Fatalf("re-encoded %x: %v", enc, err)
				}
				if back.Header.Phone != fr.Header.Phone || back.Header.Serial != fr.Header.Serial ||
					back.Header.MsgID != fr.Header.MsgID || !bytes.Equal(back.Body, fr.Body) {
					t.Fatalf("round trip %+v != %+v", back.Header, fr.Header)
				}
			}
			msg, done, err := r.Add(fr, now)
			if parts, held := r.Held(); parts > DefaultMaxParts || held > DefaultMaxBytes || r.Pending() > DefaultMaxPending {
				t.Fatalf("reassembler holds %d parts, %d bytes, %d messages", parts, held, r.Pending())
			}
			if err != nil || !done {
				return
			}
			decodeBody(t, msg)
			_ = GeneralResponse(msg.Header, 1, ResultOK)
			_ = RegisterResponse(msg.Header, 1, RegisterOK, "code")
		})
		if s.Pending() > MaxFrame {
			t.Fatalf("splitter holds %d bytes", s.Pending())
		}
	})
}

func decodeBody(t *testing.T, msg Frame) {
	switch msg.Header.MsgID {
	case MsgRegister:
		_, _ = ParseRegister(msg.Body, msg.Header.Version)
	case MsgAuth:
		_, _ = ParseAuth(msg.Body, msg.Header.Version)
	case MsgLocation:
		if l, err := ParseLocation(msg.Body, nil); err == nil {
			checkLocation(t, &l, msg.Header.Version)
		}
	case MsgBatchLocation:
		if b, err := ParseBatch(msg.Body, nil); err == nil {
			for i := range b.Items {
				checkLocation(t, &b.Items[i], msg.Header.Version)
			}
		}
	case MsgCANData:
		if c, err := ParseCAN(msg.Body); err == nil {
			for _, fr := range c.J1939Frames() {
				if len(fr.ID) != 8 || len(fr.Data) != 16 {
					t.Fatalf("CAN frame %+v", fr)
				}
			}
		}
	}
}

// checkLocation asserts what a valid position promises (CONTRACT §2 ranges).
func checkLocation(t *testing.T, l *Location, v Version) {
	p, err := l.Position(v)
	if err != nil {
		return
	}
	if p.Lat < -90 || p.Lat > 90 || p.Lon < -180 || p.Lon > 180 || (p.Lat == 0 && p.Lon == 0) {
		t.Fatalf("coordinates %v %v", p.Lat, p.Lon)
	}
	if p.TS.IsZero() {
		t.Fatal("zero time")
	}
	for _, x := range []*float64{p.SpeedKmh, p.HeadingDeg, p.AltitudeM, p.Satellites, p.OdometerKm, p.FuelL} {
		if x != nil && (math.IsNaN(*x) || math.IsInf(*x, 0)) {
			t.Fatal("non-finite value")
		}
	}
	if p.SpeedKmh != nil && (*p.SpeedKmh < 0 || *p.SpeedKmh > 300) {
		t.Fatalf("speed %v", *p.SpeedKmh)
	}
	if p.HeadingDeg != nil && (*p.HeadingDeg < 0 || *p.HeadingDeg >= 360) {
		t.Fatalf("heading %v", *p.HeadingDeg)
	}
	for _, a := range p.DeviceAlarms {
		if a == "" {
			t.Fatal("empty alarm name")
		}
	}
}

// FuzzParseLocation fuzzes the location body decoder directly (seeds in
// testdata/fuzz/FuzzParseLocation: the bodies of the real frames).
func FuzzParseLocation(f *testing.F) {
	f.Add(locationBody(3, 29500000, 106500000, 655, 90, "260115083000", "01040000271002020064030201f4300119310109"))
	f.Add(locationBody(3, 1, 1, 0, 0, "260115083000", "0102000a31020101300105ff"))
	f.Fuzz(func(t *testing.T, body []byte) {
		l, err := ParseLocation(body, nil)
		if err != nil {
			return
		}
		if len(body) < LocationSize {
			t.Fatal("short body accepted")
		}
		for _, e := range l.Extras {
			if len(e.Value) > len(body) {
				t.Fatal("extra longer than body")
			}
		}
		checkLocation(t, &l, V2013)
		checkLocation(t, &l, V2019)
	})
}

func BenchmarkDecodeFrameLocation(b *testing.B) {
	frame := realFrames(b)["smallchi_stray14_loc"]
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		f, _, err := DecodeFrame(frame)
		if err != nil {
			b.Fatal(err)
		}
		l, err := ParseLocation(f.Body, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.Position(f.Header.Version); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplitter(b *testing.B) {
	frames := realFrames(b)
	var stream []byte
	for _, f := range frames {
		stream = append(stream, f...)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	var s Splitter
	n := 0
	for b.Loop() {
		s.Feed(stream, func([]byte) { n++ })
	}
}

func BenchmarkGeneralResponse(b *testing.B) {
	h := Header{Version: V2019, ProtocolVersion: 1, Phone: "00000000017299841738", Serial: 7, MsgID: MsgLocation}
	b.ReportAllocs()
	for b.Loop() {
		_ = GeneralResponse(h, 1, ResultOK)
	}
}
