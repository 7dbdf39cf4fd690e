package gateway

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/waitfor"
	"github.com/corridor-dev/corridor/pkg/jt808"
	"github.com/corridor-dev/corridor/pkg/jt808/jt808test"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// publisher is an in-memory Publisher that can be told to fail.
type publisher struct {
	mu   sync.Mutex
	got  []tracking.Position
	fail int // fail the next n calls
}

func (p *publisher) PublishPositions(_ context.Context, ps []tracking.Position) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail > 0 {
		p.fail--
		return errors.New("jetstream unavailable")
	}
	p.got = append(p.got, ps...)
	return nil
}

func (p *publisher) positions() []tracking.Position {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]tracking.Position(nil), p.got...)
}

func vehicle(id, carrier, tid string) tracking.Vehicle {
	return tracking.Vehicle{ID: id, CarrierID: carrier, Plate: "渝A" + id, TerminalID: &tid}
}

// testNow is the clock fix times are judged against in these tests: the fixed BCD times they
// send (2026-01-15 GMT+8) are a few hours old.
func testNow() time.Time { return time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC) }

type fixture struct {
	srv    *Server
	addr   string
	veh    *terminals
	pub    *publisher
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg Config) *fixture {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	veh := &terminals{byID: map[string]tracking.Vehicle{
		"13812345678": vehicle("truck-1", "carrier-a", "13812345678"),
		"17299841738": vehicle("truck-2", "carrier-b", "17299841738"),
		"13900000001": vehicle("truck-3", "carrier-a", "13900000001"),
	}}
	pub := &publisher{}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	srv := New(cfg, veh, pub)
	srv.fixNow = testNow
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	f := &fixture{srv: srv, addr: ln.Addr().String(), veh: veh, pub: pub, cancel: cancel, done: done}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return f
}

// loc builds a 0x0200 body: altitude 245 m, heading 180, speed in 0.1 km/h, the BCD time ts
// and the extra items as hex.
func loc(alarm, status uint32, lat, lon float64, speed10 uint16, ts string, extras string) []byte {
	t, _ := hex.DecodeString(ts)
	e, _ := hex.DecodeString(extras)
	return jt808test.Location{Alarm: alarm, Status: status, Lat: lat, Lon: lon, AltitudeM: 245,
		SpeedKmh: float64(speed10) / 10, Heading: 180, RawTime: t, Extras: e}.Body()
}

const (
	fixACC = jt808.StatusFixValid | jt808.StatusACC
)

// waitFor polls cond until it holds; the deadline is generous because the machine may be loaded.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.For(t, 30*time.Second, what, cond)
}

func TestSession2013(t *testing.T) {
	fx := start(t, Config{})
	tm := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")

	// A report before authentication is answered (result 1, so the terminal keeps it) but is not a position.
	s := tm.Send(jt808.MsgLocation, loc(0, fixACC, 29.56, 106.55, 600, "260115083000", ""))
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultFailure)

	result, code := tm.Register()
	if result != jt808.RegisterOK || len(code) != 24 {
		t.Fatalf("register: result %d code %q", result, code)
	}
	// A wrong auth code fails.
	s = tm.Send(jt808.MsgAuth, []byte("wrong"))
	tm.ExpectGeneral(s, jt808.MsgAuth, jt808.ResultFailure)
	tm.Auth(code)

	s = tm.Send(jt808.MsgHeartbeat, nil)
	tm.ExpectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)

	// A valid fix with alarms and extra items.
	s = tm.Send(jt808.MsgLocation, loc(1|1<<8, fixACC, 29.56, 106.55, 655, "260115083000", "0104000027100202006403020258300119310109"))
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	// A report without a fix: answered 0, not a position.
	s = tm.Send(jt808.MsgLocation, loc(0, jt808.StatusACC, 29.56, 106.55, 0, "260115083010", ""))
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)

	ps := fx.pub.positions()
	if len(ps) != 1 {
		t.Fatalf("%d positions published, want 1", len(ps))
	}
	p := ps[0]
	if p.VehicleID != "truck-1" || p.CarrierID != "carrier-a" || p.Lat != 29.56 || p.Lon != 106.55 ||
		*p.SpeedKmh != 65.5 || *p.HeadingDeg != 180 || *p.AltitudeM != 245 || *p.OdometerKm != 1000 ||
		*p.FuelL != 10 || *p.Satellites != 9 || !*p.Ignition || fmt.Sprint(p.DeviceAlarms) != "[emergency power_cut]" {
		t.Errorf("position %+v", p)
	}
	if want := time.Date(2026, 1, 15, 0, 30, 0, 0, time.UTC); !p.TS.Equal(want) {
		t.Errorf("ts %v, want %v (BCD time is GMT+8)", p.TS, want)
	}

	// Batch: type 1 back-fill, two valid fixes and one without a fix.
	batch := jt808test.Batch(1,
		loc(0, fixACC, 29.50, 106.50, 100, "260115070000", ""),
		loc(0, 0, 29.51, 106.51, 100, "260115070100", ""),
		loc(0, fixACC, 29.52, 106.52, 100, "260115070200", "310104"),
	)
	s = tm.Send(jt808.MsgBatchLocation, batch)
	tm.ExpectGeneral(s, jt808.MsgBatchLocation, jt808.ResultOK)
	if ps = fx.pub.positions(); len(ps) != 3 || ps[1].Lat != 29.50 || ps[2].Lat != 29.52 || *ps[2].Satellites != 4 {
		t.Fatalf("after batch: %+v", ps)
	}

	// CAN data: the J1939 frames ride on the next position.
	can := "0002" + "103015" + "0123" + "4cf00400" + "1122336009667788" + "58fef100" + "ff0019ffffffffff"
	s = tm.Send(jt808.MsgCANData, mustHex(t, can))
	tm.ExpectGeneral(s, jt808.MsgCANData, jt808.ResultOK)
	s = tm.Send(jt808.MsgLocation, loc(0, fixACC, 29.57, 106.56, 300, "260115083100", ""))
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	ps = fx.pub.positions()
	last := ps[len(ps)-1]
	if len(last.CAN) != 2 || last.CAN[0] != (tracking.CANFrame{ID: "0CF00400", Data: "1122336009667788"}) || last.CAN[1].ID != "18FEF100" {
		t.Errorf("can %+v", last.CAN)
	}
	// ... and only on that one.
	s = tm.Send(jt808.MsgLocation, loc(0, fixACC, 29.58, 106.57, 300, "260115083200", ""))
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	if ps = fx.pub.positions(); len(ps[len(ps)-1].CAN) != 0 {
		t.Errorf("CAN frames attached twice")
	}

	// Garbage between frames is skipped; a bad check code is answered with result 2.
	tm.Write([]byte("\x00\x01garbage\x7d\x7e\x7e"))
	good, _ := jt808.Encode(tm.Header, jt808.MsgHeartbeat, 555, nil)
	bad := append([]byte(nil), good...)
	bad[len(bad)-2] ^= 0x01
	tm.Write(bad)
	tm.ExpectGeneral(555, jt808.MsgHeartbeat, jt808.ResultBadMessage)
	// Bad length (header says 3 body bytes, none present), correct check code.
	p0 := []byte{0x00, 0x02, 0x00, 0x03, 0x01, 0x38, 0x12, 0x34, 0x56, 0x78, 0x02, 0x2b}
	tm.Write(jt808test.Wrap(append(p0, jt808.Checksum(p0))))
	tm.ExpectGeneral(0x022b, jt808.MsgHeartbeat, jt808.ResultBadMessage)
	// An illegal escape with a readable header.
	tm.Write(append(good[:len(good)-2:len(good)-2], 0x7d, 0x05, 0x7e))
	tm.ExpectGeneral(555, jt808.MsgHeartbeat, jt808.ResultBadMessage)

	// Unknown message → result 3.
	s = tm.Send(0x0900, []byte{0xf1, 1, 2})
	tm.ExpectGeneral(s, 0x0900, jt808.ResultUnsupported)

	// Publish failure → result 1; the retry succeeds → 0.
	fx.pub.mu.Lock()
	fx.pub.fail = 1
	fx.pub.mu.Unlock()
	body := loc(0, fixACC, 29.59, 106.58, 300, "260115083300", "")
	s = tm.Send(jt808.MsgLocation, body)
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultFailure)
	s = tm.Send(jt808.MsgLocation, body)
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)

	// A report for another phone on this connection is not accepted as a position.
	other := *tm
	other.Header.Phone = "013900000001"
	s = other.Send(jt808.MsgLocation, loc(0, fixACC, 29.6, 106.6, 0, "260115083400", ""))
	other.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultFailure) // addressed to that phone
	tm.Serial = other.Serial

	// Another phone's deregistration on this connection removes nothing.
	other.Header.Phone = "013900000001"
	otherCode := fx.veh.code(t, "13900000001")
	s = other.Send(jt808.MsgDeregister, nil)
	other.ExpectGeneral(s, jt808.MsgDeregister, jt808.ResultOK)
	tm.Serial = other.Serial
	tm.Auth(code) // that deregistration ended this connection's authentication
	// Deregistration ends authentication and removes the registration: the terminal registers
	// again and gets a new code.
	s = tm.Send(jt808.MsgDeregister, nil)
	tm.ExpectGeneral(s, jt808.MsgDeregister, jt808.ResultOK)
	s = tm.Send(jt808.MsgLocation, body)
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultFailure)
	if _, _, err := fx.veh.RegisteredTerminal(context.Background(), "13900000001"); err != nil {
		t.Errorf("another terminal's registration removed: %v (code %s)", err, otherCode)
	}
	if result, newCode := tm.Register(); result != jt808.RegisterOK || newCode == code {
		t.Errorf("register after deregistration: %d %q", result, newCode)
	}

	st := fx.srv.Stats()
	if st.PositionsPublished != 6 || st.FramesBad != 4 || st.PublishFailures != 1 || st.ReportsRejected != 3 || st.ConnectionsActive != 1 {
		t.Errorf("stats %+v", st)
	}
	if n := len(fx.pub.positions()); n != 6 {
		t.Errorf("%d positions", n)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSession2019(t *testing.T) {
	fx := start(t, Config{TimeOffset: time.UTC})
	tm := jt808test.Dial(t, fx.addr, jt808.V2019, "00000000017299841738")
	result, code := tm.Register()
	if result != jt808.RegisterOK || code == "" {
		t.Fatalf("register %d %q", result, code)
	}
	tm.Auth(code)
	s := tm.Send(jt808.MsgHeartbeat, nil)
	tm.ExpectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)
	s = tm.Send(jt808.MsgLocation, loc(1<<3|1<<29, jt808.StatusFixValid|jt808.StatusSouth|jt808.StatusWest, 33.87, 151.21, 0, "260115083000", ""))
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	ps := fx.pub.positions()
	if len(ps) != 1 || ps[0].VehicleID != "truck-2" || ps[0].Lat != -33.87 || ps[0].Lon != -151.21 || *ps[0].Ignition ||
		fmt.Sprint(ps[0].DeviceAlarms) != "[dangerous_driving collision_rollover]" {
		t.Fatalf("positions %+v", ps)
	}
	if !ps[0].TS.Equal(time.Date(2026, 1, 15, 8, 30, 0, 0, time.UTC)) {
		t.Errorf("ts %v with TimeOffset UTC", ps[0].TS)
	}
	// 2019 query-time → 0x8004.
	tm.Send(jt808.MsgQueryTime, nil)
	if f := tm.Recv(); f.Header.MsgID != jt808.MsgTimeResponse || len(f.Body) != 6 {
		t.Errorf("0x8004: %+v %x", f.Header, f.Body)
	}

	// A subpackaged 0x0704 (two packets): the first packet is acknowledged at once, the
	// message after publishing.
	item := loc(0, jt808.StatusFixValid, 30.1, 107.1, 0, "260115090000", "")
	batch := jt808test.Batch(0, item, item)
	half := len(batch) / 2
	s1 := tm.SendPacket(jt808.MsgBatchLocation, 2, 1, batch[:half])
	tm.ExpectGeneral(s1, jt808.MsgBatchLocation, jt808.ResultOK)
	s2 := tm.SendPacket(jt808.MsgBatchLocation, 2, 2, batch[half:])
	tm.ExpectGeneral(s2, jt808.MsgBatchLocation, jt808.ResultOK)
	if ps = fx.pub.positions(); len(ps) != 3 {
		t.Errorf("%d positions after subpackaged batch", len(ps))
	}
}

// A second terminal that sends garbage (random bytes, oversized runs, bad frames) does not
// disturb the first one, and the process survives.
func TestGarbageTerminalIsolated(t *testing.T) {
	fx := start(t, Config{})
	good := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	_, code := good.Register()
	good.Auth(code)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := net.Dial("tcp", fx.addr)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		go io.Copy(io.Discard, c)
		r := rand.New(rand.NewPCG(1, 2))
		buf := make([]byte, 3000)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			for j := range buf {
				buf[j] = byte(r.Uint32())
			}
			if i%3 == 0 {
				for j := range buf {
					if buf[j] == 0x7e {
						buf[j] = 0
					}
				}
			}
			if _, err := c.Write(buf); err != nil {
				return // the server may close a connection that only sends garbage
			}
		}
	}()
	for i := range 50 {
		s := good.Send(jt808.MsgLocation, loc(0, fixACC, 29.5+float64(i)/1000, 106.5, 100, "260115083000", ""))
		good.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	}
	// The garbage terminal really was being read while the good one reported.
	waitFor(t, "bad frames counted", func() bool { return fx.srv.Stats().FramesBad > 0 })
	close(stop)
	wg.Wait()
	if n := len(fx.pub.positions()); n != 50 {
		t.Errorf("%d positions, want 50", n)
	}
}

func TestIdleTimeout(t *testing.T) {
	fx := start(t, Config{IdleTimeout: 150 * time.Millisecond})
	tm := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	s := tm.Send(jt808.MsgHeartbeat, nil)
	tm.ExpectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)
	_ = tm.Conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := tm.Conn.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read after idle: %v, want EOF", err)
	}
	waitFor(t, "connection count 0", func() bool { return fx.srv.Stats().ConnectionsActive == 0 })
}

func TestMaxConns(t *testing.T) {
	fx := start(t, Config{MaxConns: 1})
	a := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	s := a.Send(jt808.MsgHeartbeat, nil)
	a.ExpectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)
	b := jt808test.Dial(t, fx.addr, jt808.V2013, "013900000001")
	_ = b.Conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := b.Conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("second connection served beyond MaxConns")
	}
	if fx.srv.Stats().ConnectionsRejected != 1 {
		t.Errorf("stats %+v", fx.srv.Stats())
	}
}

func TestServeReturnsOnCancel(t *testing.T) {
	fx := start(t, Config{})
	tm := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	s := tm.Send(jt808.MsgHeartbeat, nil)
	tm.ExpectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)
	fx.cancel()
	select {
	case err := <-fx.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		fx.done <- nil // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	_ = tm.Conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := tm.Conn.Read(make([]byte, 1)); err == nil {
		t.Error("connection still open after shutdown")
	}
	if _, err := net.Dial("tcp", fx.addr); err == nil {
		t.Error("listener still open after shutdown")
	}
}

// Real device frames replayed over TCP: a 2013-shaped header with a stray bit 14
// (SmallChi/JT808 · src/JT808.Protocol.Test/MessageBody/JT808_0x0200Test.cs, Test5_4) is
// answered with a 2013 header.
func TestStrayVersionBitFrame(t *testing.T) {
	fx := start(t, Config{})
	tm := jt808test.Dial(t, fx.addr, jt808.V2013, "010030000681")
	tm.Write(mustHex(t, "7e0200406c010030000681090e00000000000c0003026c936f074c794c0004036300d7210625155739010400000000052801cc00210625155739054145bbc91e4145a2fa1141450000004145bbc8194145a1370a4145000000240200002a0200002b04000000003001153101125f0a89860418231870850620757e"))
	tm.ExpectGeneral(0x090e, jt808.MsgLocation, jt808.ResultFailure) // not authenticated
}

func BenchmarkLocationRoundTrip(b *testing.B) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	veh := &terminals{byID: map[string]tracking.Vehicle{"13812345678": vehicle("truck-1", "carrier-a", "13812345678")}}
	srv := New(Config{Log: slog.New(slog.DiscardHandler)}, veh, &discardPublisher{})
	srv.fixNow = testNow
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx, ln)
	c, _ := net.Dial("tcp", ln.Addr().String())
	defer c.Close()
	h := jt808.Header{Version: jt808.V2013, Phone: "013812345678"}
	auth, _ := jt808.Encode(h, jt808.MsgAuth, 1, []byte(veh.code(b, "13812345678")))
	c.Write(auth)
	buf := make([]byte, 256)
	c.Read(buf)
	frame, _ := jt808.Encode(h, jt808.MsgLocation, 2, loc(0, fixACC, 29.5, 106.5, 100, "260115083000", "01040000271030010c"))
	b.ResetTimer()
	for b.Loop() {
		c.Write(frame)
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

type discardPublisher struct{}

func (discardPublisher) PublishPositions(context.Context, []tracking.Position) error { return nil }

// Every published real frame (../testdata/real_frames.txt, sources cited there and in
// ../real_frames_test.go) replayed over one connection gets exactly one answer, echoing its
// serial and message id: result 2 for the frames with a wrong check code, 0x8100 for
// registrations, result 1 for reports and auth codes of an unauthenticated connection,
// result 3 for message ids the gateway does not handle.
func TestReplayRealFrames(t *testing.T) {
	fx := start(t, Config{})
	data, err := os.ReadFile("../testdata/real_frames.txt")
	if err != nil {
		t.Fatal(err)
	}
	tm := jt808test.Dial(t, fx.addr, jt808.V2013, "") // replies are addressed to each frame's sender
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) != 3 || strings.HasPrefix(line, "#") {
			continue
		}
		name, frame := fields[0], mustHex(t, fields[2])
		f, readable, derr := jt808.DecodeFrame(frame)
		if !readable {
			t.Fatalf("%s: header unreadable", name)
		}
		tm.Write(frame)
		got := tm.Recv()
		h := f.Header
		if got.Header.Phone != h.Phone || got.Header.Version != h.Version {
			t.Errorf("%s: answered to %s/%v, sent by %s/%v", name, got.Header.Phone, got.Header.Version, h.Phone, h.Version)
		}
		switch {
		case derr != nil:
			checkGeneral(t, name, got, h, jt808.ResultBadMessage)
		case h.MsgID == jt808.MsgRegister:
			if got.Header.MsgID != jt808.MsgRegisterResponse || binary.BigEndian.Uint16(got.Body) != h.Serial {
				t.Errorf("%s: answer %#04x %x", name, got.Header.MsgID, got.Body)
			}
		case h.MsgID == jt808.MsgAuth || h.MsgID == jt808.MsgLocation || h.MsgID == jt808.MsgBatchLocation:
			checkGeneral(t, name, got, h, jt808.ResultFailure) // none of them is authenticated here
		case h.MsgID == jt808.MsgHeartbeat:
			checkGeneral(t, name, got, h, jt808.ResultOK)
		default:
			checkGeneral(t, name, got, h, jt808.ResultUnsupported)
		}
	}
	if len(fx.pub.positions()) != 0 {
		t.Error("unauthenticated frames became positions")
	}
}

func checkGeneral(t *testing.T, name string, got jt808.Frame, h jt808.Header, result byte) {
	t.Helper()
	if got.Header.MsgID != jt808.MsgPlatformResponse || len(got.Body) != 5 ||
		binary.BigEndian.Uint16(got.Body[0:2]) != h.Serial || binary.BigEndian.Uint16(got.Body[2:4]) != h.MsgID || got.Body[4] != result {
		t.Errorf("%s: answer %#04x %x, want 0x8001 for serial %d msg %#04x result %d", name, got.Header.MsgID, got.Body, h.Serial, h.MsgID, result)
	}
}

type panicPublisher struct{}

func (panicPublisher) PublishPositions(context.Context, []tracking.Position) error {
	panic("publisher bug")
}

// A panic behind a session costs that connection only.
func TestPanicIsolated(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	veh := &terminals{byID: map[string]tracking.Vehicle{"13812345678": vehicle("truck-1", "carrier-a", "13812345678")}}
	srv := New(Config{Log: slog.New(slog.DiscardHandler)}, veh, panicPublisher{})
	srv.fixNow = testNow
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	tm := jt808test.Dial(t, ln.Addr().String(), jt808.V2013, "013812345678")
	tm.Auth(veh.code(t, "13812345678"))
	tm.Send(jt808.MsgLocation, loc(0, fixACC, 29.5, 106.5, 0, "260115083000", ""))
	_ = tm.Conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := tm.Conn.Read(make([]byte, 64)); err == nil {
		t.Fatal("connection survived a panic")
	}
	other := jt808test.Dial(t, ln.Addr().String(), jt808.V2013, "013812345678")
	s := other.Send(jt808.MsgHeartbeat, nil)
	other.ExpectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)
}

// A report with an all-zero time (sent before the first fix) is answered 0 and not published.
func TestZeroTimeReport(t *testing.T) {
	fx := start(t, Config{})
	tm := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	tm.Auth(fx.veh.code(t, "13812345678"))
	s := tm.Send(jt808.MsgLocation, loc(0, fixACC, 29.5, 106.5, 0, "000000000000", ""))
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	s = tm.Send(jt808.MsgLocation, []byte{1, 2, 3}) // too short for a location
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultBadMessage)
	if n := len(fx.pub.positions()); n != 0 {
		t.Errorf("%d positions", n)
	}
}
