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

	"github.com/corridor-dev/corridor/pkg/jt808"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// vehicles is an in-memory Vehicles.
type vehicles struct {
	mu   sync.Mutex
	byID map[string]tracking.Vehicle
	err  error
}

func (v *vehicles) VehicleByTerminal(_ context.Context, tid string) (tracking.Vehicle, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.err != nil {
		return tracking.Vehicle{}, v.err
	}
	veh, ok := v.byID[tid]
	if !ok {
		return tracking.Vehicle{}, tracking.Errorf(tracking.ENOTFOUND, "no vehicle with terminal %s", tid)
	}
	return veh, nil
}

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

type fixture struct {
	srv    *Server
	addr   string
	veh    *vehicles
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
	veh := &vehicles{byID: map[string]tracking.Vehicle{
		"13812345678": vehicle("truck-1", "carrier-a", "13812345678"),
		"17299841738": vehicle("truck-2", "carrier-b", "17299841738"),
		"13900000001": vehicle("truck-3", "carrier-a", "13900000001"),
	}}
	pub := &publisher{}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.AuthSecret == nil {
		cfg.AuthSecret = []byte("test-secret")
	}
	srv := New(cfg, veh, pub)
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

// terminal is a simulated JT/T 808 device.
type terminal struct {
	t      *testing.T
	conn   net.Conn
	hdr    jt808.Header
	serial uint16
	split  jt808.Splitter
	queue  []jt808.Frame
}

func dial(t *testing.T, addr string, v jt808.Version, phone string) *terminal {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := jt808.Header{Version: v, Phone: phone}
	if v == jt808.V2019 {
		h.ProtocolVersion = 1
	}
	return &terminal{t: t, conn: c, hdr: h, serial: 100}
}

// send sends a message and returns its serial.
func (tm *terminal) send(msgID uint16, body []byte) uint16 {
	tm.t.Helper()
	tm.serial++
	b, err := jt808.Encode(tm.hdr, msgID, tm.serial, body)
	if err != nil {
		tm.t.Fatal(err)
	}
	tm.write(b)
	return tm.serial
}

func (tm *terminal) write(b []byte) {
	tm.t.Helper()
	if _, err := tm.conn.Write(b); err != nil {
		tm.t.Fatal(err)
	}
}

// recv returns the next frame from the server.
func (tm *terminal) recv() jt808.Frame {
	tm.t.Helper()
	buf := make([]byte, 1024)
	deadline := time.Now().Add(5 * time.Second)
	for len(tm.queue) == 0 {
		_ = tm.conn.SetReadDeadline(deadline)
		n, err := tm.conn.Read(buf)
		tm.split.Feed(buf[:n], func(b []byte) {
			f, _, err := jt808.DecodeFrame(b)
			if err != nil {
				tm.t.Errorf("server sent a bad frame %x: %v", b, err)
				return
			}
			tm.queue = append(tm.queue, f)
		})
		if err != nil && len(tm.queue) == 0 {
			tm.t.Fatalf("read: %v", err)
		}
	}
	f := tm.queue[0]
	tm.queue = tm.queue[1:]
	return f
}

// expectGeneral reads a 0x8001 and checks it answers (serial, msgID) with result.
func (tm *terminal) expectGeneral(serial, msgID uint16, result byte) {
	tm.t.Helper()
	f := tm.recv()
	if f.Header.MsgID != jt808.MsgPlatformResponse || len(f.Body) != 5 {
		tm.t.Fatalf("want 0x8001, got %#04x body %x", f.Header.MsgID, f.Body)
	}
	tm.checkHeader(f.Header)
	gotSerial, gotID, gotResult := binary.BigEndian.Uint16(f.Body[0:2]), binary.BigEndian.Uint16(f.Body[2:4]), f.Body[4]
	if gotSerial != serial || gotID != msgID || gotResult != result {
		tm.t.Fatalf("0x8001 answers serial %d msg %#04x result %d; want %d %#04x %d", gotSerial, gotID, gotResult, serial, msgID, result)
	}
}

func (tm *terminal) checkHeader(h jt808.Header) {
	tm.t.Helper()
	if h.Version != tm.hdr.Version || h.Phone != tm.hdr.Phone || h.ProtocolVersion != tm.hdr.ProtocolVersion {
		tm.t.Fatalf("reply header %+v does not match terminal %+v", h, tm.hdr)
	}
}

// register sends 0x0100 and returns the result and auth code of the 0x8100.
func (tm *terminal) register() (byte, string) {
	tm.t.Helper()
	body := make([]byte, 0, 80)
	body = append(body, 0, 50, 0x01, 0x00) // Chongqing
	if tm.hdr.Version == jt808.V2019 {
		body = append(body, pad("CORRIDOR", 11)...)
		body = append(body, pad("HZ-1", 30)...)
		body = append(body, pad("T0001", 30)...)
	} else {
		body = append(body, pad("CORR", 5)...)
		body = append(body, pad("HZ-1", 20)...)
		body = append(body, pad("T0001", 7)...)
	}
	body = append(body, 2)
	body = append(body, 0xd3, 0xe5, 'A', '1', '2', '3', '4', '5') // 渝A12345 in GBK
	serial := tm.send(jt808.MsgRegister, body)
	f := tm.recv()
	if f.Header.MsgID != jt808.MsgRegisterResponse || len(f.Body) < 3 {
		tm.t.Fatalf("want 0x8100, got %#04x %x", f.Header.MsgID, f.Body)
	}
	tm.checkHeader(f.Header)
	if got := binary.BigEndian.Uint16(f.Body[0:2]); got != serial {
		tm.t.Fatalf("0x8100 answers serial %d, want %d", got, serial)
	}
	return f.Body[2], string(f.Body[3:])
}

func (tm *terminal) auth(code string) {
	tm.t.Helper()
	var body []byte
	if tm.hdr.Version == jt808.V2019 {
		body = append([]byte{byte(len(code))}, code...)
		body = append(body, "860000000000001"...)
		body = append(body, pad("1.0.0", 20)...)
	} else {
		body = []byte(code)
	}
	s := tm.send(jt808.MsgAuth, body)
	tm.expectGeneral(s, jt808.MsgAuth, jt808.ResultOK)
}

func pad(s string, n int) []byte {
	b := make([]byte, n)
	copy(b, s)
	return b
}

// loc builds a 0x0200 body.
func loc(alarm, status uint32, lat, lon float64, speed10 uint16, ts string, extras string) []byte {
	b := make([]byte, 0, 64)
	b = binary.BigEndian.AppendUint32(b, alarm)
	b = binary.BigEndian.AppendUint32(b, status)
	b = binary.BigEndian.AppendUint32(b, uint32(lat*1e6+0.5))
	b = binary.BigEndian.AppendUint32(b, uint32(lon*1e6+0.5))
	b = binary.BigEndian.AppendUint16(b, 245)
	b = binary.BigEndian.AppendUint16(b, speed10)
	b = binary.BigEndian.AppendUint16(b, 180)
	t, _ := hex.DecodeString(ts)
	b = append(b, t...)
	e, _ := hex.DecodeString(extras)
	return append(b, e...)
}

const (
	fixACC = jt808.StatusFixValid | jt808.StatusACC
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSession2013(t *testing.T) {
	fx := start(t, Config{})
	tm := dial(t, fx.addr, jt808.V2013, "013812345678")

	// A report before authentication is answered (result 1, so the terminal keeps it) but is not a position.
	s := tm.send(jt808.MsgLocation, loc(0, fixACC, 29.56, 106.55, 600, "260115083000", ""))
	tm.expectGeneral(s, jt808.MsgLocation, jt808.ResultFailure)

	result, code := tm.register()
	if result != jt808.RegisterOK || code != fx.srv.AuthCode("13812345678") {
		t.Fatalf("register: result %d code %q", result, code)
	}
	// A wrong auth code fails.
	s = tm.send(jt808.MsgAuth, []byte("wrong"))
	tm.expectGeneral(s, jt808.MsgAuth, jt808.ResultFailure)
	tm.auth(code)

	s = tm.send(jt808.MsgHeartbeat, nil)
	tm.expectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)

	// A valid fix with alarms and extra items.
	s = tm.send(jt808.MsgLocation, loc(1|1<<8, fixACC, 29.56, 106.55, 655, "260115083000", "0104000027100202006403020258300119310109"))
	tm.expectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	// A report without a fix: answered 0, not a position.
	s = tm.send(jt808.MsgLocation, loc(0, jt808.StatusACC, 29.56, 106.55, 0, "260115083010", ""))
	tm.expectGeneral(s, jt808.MsgLocation, jt808.ResultOK)

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
	var batch []byte
	batch = binary.BigEndian.AppendUint16(batch, 3)
	batch = append(batch, 1)
	for i, item := range [][]byte{
		loc(0, fixACC, 29.50, 106.50, 100, "260115070000", ""),
		loc(0, 0, 29.51, 106.51, 100, "260115070100", ""),
		loc(0, fixACC, 29.52, 106.52, 100, "260115070200", "310104"),
	} {
		_ = i
		batch = binary.BigEndian.AppendUint16(batch, uint16(len(item)))
		batch = append(batch, item...)
	}
	s = tm.send(jt808.MsgBatchLocation, batch)
	tm.expectGeneral(s, jt808.MsgBatchLocation, jt808.ResultOK)
	if ps = fx.pub.positions(); len(ps) != 3 || ps[1].Lat != 29.50 || ps[2].Lat != 29.52 || *ps[2].Satellites != 4 {
		t.Fatalf("after batch: %+v", ps)
	}

	// CAN data: the J1939 frames ride on the next position.
	can := "0002" + "103015" + "0123" + "4cf00400" + "1122336009667788" + "58fef100" + "ff0019ffffffffff"
	s = tm.send(jt808.MsgCANData, mustHex(t, can))
	tm.expectGeneral(s, jt808.MsgCANData, jt808.ResultOK)
	s = tm.send(jt808.MsgLocation, loc(0, fixACC, 29.57, 106.56, 300, "260115083100", ""))
	tm.expectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	ps = fx.pub.positions()
	last := ps[len(ps)-1]
	if len(last.CAN) != 2 || last.CAN[0] != (tracking.CANFrame{ID: "0CF00400", Data: "1122336009667788"}) || last.CAN[1].ID != "18FEF100" {
		t.Errorf("can %+v", last.CAN)
	}
	// ... and only on that one.
	s = tm.send(jt808.MsgLocation, loc(0, fixACC, 29.58, 106.57, 300, "260115083200", ""))
	tm.expectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	if ps = fx.pub.positions(); len(ps[len(ps)-1].CAN) != 0 {
		t.Errorf("CAN frames attached twice")
	}

	// Garbage between frames is skipped; a bad check code is answered with result 2.
	tm.write([]byte("\x00\x01garbage\x7d\x7e\x7e"))
	good, _ := jt808.Encode(tm.hdr, jt808.MsgHeartbeat, 555, nil)
	bad := append([]byte(nil), good...)
	bad[len(bad)-2] ^= 0x01
	tm.write(bad)
	tm.expectGeneral(555, jt808.MsgHeartbeat, jt808.ResultBadMessage)
	// Bad length (header says 3 body bytes, none present), correct check code.
	p0 := []byte{0x00, 0x02, 0x00, 0x03, 0x01, 0x38, 0x12, 0x34, 0x56, 0x78, 0x02, 0x2b}
	tm.write(append(append([]byte{0x7e}, jt808.AppendEscaped(nil, append(p0, jt808.Checksum(p0)))...), 0x7e))
	tm.expectGeneral(0x022b, jt808.MsgHeartbeat, jt808.ResultBadMessage)
	// An illegal escape with a readable header.
	tm.write(append(good[:len(good)-2:len(good)-2], 0x7d, 0x05, 0x7e))
	tm.expectGeneral(555, jt808.MsgHeartbeat, jt808.ResultBadMessage)

	// Unknown message → result 3.
	s = tm.send(0x0900, []byte{0xf1, 1, 2})
	tm.expectGeneral(s, 0x0900, jt808.ResultUnsupported)

	// Publish failure → result 1; the retry succeeds → 0.
	fx.pub.mu.Lock()
	fx.pub.fail = 1
	fx.pub.mu.Unlock()
	body := loc(0, fixACC, 29.59, 106.58, 300, "260115083300", "")
	s = tm.send(jt808.MsgLocation, body)
	tm.expectGeneral(s, jt808.MsgLocation, jt808.ResultFailure)
	s = tm.send(jt808.MsgLocation, body)
	tm.expectGeneral(s, jt808.MsgLocation, jt808.ResultOK)

	// A report for another phone on this connection is not accepted as a position.
	other := *tm
	other.hdr.Phone = "013900000001"
	s = other.send(jt808.MsgLocation, loc(0, fixACC, 29.6, 106.6, 0, "260115083400", ""))
	other.expectGeneral(s, jt808.MsgLocation, jt808.ResultFailure) // addressed to that phone
	tm.serial = other.serial

	// Deregistration ends authentication.
	s = tm.send(jt808.MsgDeregister, nil)
	tm.expectGeneral(s, jt808.MsgDeregister, jt808.ResultOK)
	s = tm.send(jt808.MsgLocation, body)
	tm.expectGeneral(s, jt808.MsgLocation, jt808.ResultFailure)

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
	tm := dial(t, fx.addr, jt808.V2019, "00000000017299841738")
	result, code := tm.register()
	if result != jt808.RegisterOK || code == "" {
		t.Fatalf("register %d %q", result, code)
	}
	tm.auth(code)
	s := tm.send(jt808.MsgHeartbeat, nil)
	tm.expectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)
	s = tm.send(jt808.MsgLocation, loc(1<<3|1<<29, jt808.StatusFixValid|jt808.StatusSouth|jt808.StatusWest, 33.87, 151.21, 0, "260115083000", ""))
	tm.expectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	ps := fx.pub.positions()
	if len(ps) != 1 || ps[0].VehicleID != "truck-2" || ps[0].Lat != -33.87 || ps[0].Lon != -151.21 || *ps[0].Ignition ||
		fmt.Sprint(ps[0].DeviceAlarms) != "[dangerous_driving collision_rollover]" {
		t.Fatalf("positions %+v", ps)
	}
	if !ps[0].TS.Equal(time.Date(2026, 1, 15, 8, 30, 0, 0, time.UTC)) {
		t.Errorf("ts %v with TimeOffset UTC", ps[0].TS)
	}
	// 2019 query-time → 0x8004.
	tm.send(jt808.MsgQueryTime, nil)
	if f := tm.recv(); f.Header.MsgID != jt808.MsgTimeResponse || len(f.Body) != 6 {
		t.Errorf("0x8004: %+v %x", f.Header, f.Body)
	}

	// A subpackaged 0x0704 (two packets): the first packet is acknowledged at once, the
	// message after publishing.
	item := loc(0, jt808.StatusFixValid, 30.1, 107.1, 0, "260115090000", "")
	var batch []byte
	batch = binary.BigEndian.AppendUint16(batch, 2)
	batch = append(batch, 0)
	for range 2 {
		batch = binary.BigEndian.AppendUint16(batch, uint16(len(item)))
		batch = append(batch, item...)
	}
	half := len(batch) / 2
	s1 := tm.sendPacket(jt808.MsgBatchLocation, 2, 1, batch[:half])
	tm.expectGeneral(s1, jt808.MsgBatchLocation, jt808.ResultOK)
	s2 := tm.sendPacket(jt808.MsgBatchLocation, 2, 2, batch[half:])
	tm.expectGeneral(s2, jt808.MsgBatchLocation, jt808.ResultOK)
	if ps = fx.pub.positions(); len(ps) != 3 {
		t.Errorf("%d positions after subpackaged batch", len(ps))
	}
}

// sendPacket sends one packet of a subpackaged message (built by hand: the codec's Encode
// writes unsplit replies only).
func (tm *terminal) sendPacket(msgID, total, index uint16, body []byte) uint16 {
	tm.serial++
	var p []byte
	p = binary.BigEndian.AppendUint16(p, msgID)
	attr := uint16(len(body)) | 1<<13
	if tm.hdr.Version == jt808.V2019 {
		attr |= 1 << 14
	}
	p = binary.BigEndian.AppendUint16(p, attr)
	if tm.hdr.Version == jt808.V2019 {
		p = append(p, tm.hdr.ProtocolVersion)
		b, _ := hex.DecodeString(tm.hdr.Phone)
		p = append(p, b...)
	} else {
		b, _ := hex.DecodeString(tm.hdr.Phone)
		p = append(p, b...)
	}
	p = binary.BigEndian.AppendUint16(p, tm.serial)
	p = binary.BigEndian.AppendUint16(p, total)
	p = binary.BigEndian.AppendUint16(p, index)
	p = append(p, body...)
	p = append(p, jt808.Checksum(p))
	tm.write(append(append([]byte{0x7e}, jt808.AppendEscaped(nil, p)...), 0x7e))
	return tm.serial
}

func TestRegisterUnknownTerminal(t *testing.T) {
	fx := start(t, Config{})
	tm := dial(t, fx.addr, jt808.V2013, "015500000000")
	if result, code := tm.register(); result != jt808.RegisterTerminalUnknown || code != "" {
		t.Fatalf("result %d code %q, want 4 and no code", result, code)
	}
	// An auth code computed for another terminal does not authenticate this one.
	s := tm.send(jt808.MsgAuth, []byte(fx.srv.AuthCode("13812345678")))
	tm.expectGeneral(s, jt808.MsgAuth, jt808.ResultFailure)
	// Vehicle store outage: registration answered 0x8001 result 1 (retry later).
	fx.veh.mu.Lock()
	fx.veh.err = errors.New("database down")
	fx.veh.mu.Unlock()
	s = tm.send(jt808.MsgRegister, make([]byte, 40))
	tm.expectGeneral(s, jt808.MsgRegister, jt808.ResultFailure)
}

// Auth codes are stateless: a second server with the same secret accepts them.
func TestAuthCodeSurvivesRestart(t *testing.T) {
	fx1 := start(t, Config{AuthSecret: []byte("k")})
	tm := dial(t, fx1.addr, jt808.V2013, "013812345678")
	_, code := tm.register()
	fx2 := start(t, Config{AuthSecret: []byte("k")})
	tm2 := dial(t, fx2.addr, jt808.V2013, "013812345678")
	tm2.auth(code)
}

// A second terminal that sends garbage (random bytes, oversized runs, bad frames) does not
// disturb the first one, and the process survives.
func TestGarbageTerminalIsolated(t *testing.T) {
	fx := start(t, Config{})
	good := dial(t, fx.addr, jt808.V2013, "013812345678")
	_, code := good.register()
	good.auth(code)

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
		s := good.send(jt808.MsgLocation, loc(0, fixACC, 29.5+float64(i)/1000, 106.5, 100, "260115083000", ""))
		good.expectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	}
	close(stop)
	wg.Wait()
	if n := len(fx.pub.positions()); n != 50 {
		t.Errorf("%d positions, want 50", n)
	}
	if fx.srv.Stats().FramesBad == 0 {
		t.Error("no bad frames counted")
	}
}

func TestIdleTimeout(t *testing.T) {
	fx := start(t, Config{IdleTimeout: 150 * time.Millisecond})
	tm := dial(t, fx.addr, jt808.V2013, "013812345678")
	s := tm.send(jt808.MsgHeartbeat, nil)
	tm.expectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)
	_ = tm.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := tm.conn.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read after idle: %v, want EOF", err)
	}
	waitFor(t, "connection count 0", func() bool { return fx.srv.Stats().ConnectionsActive == 0 })
}

func TestMaxConns(t *testing.T) {
	fx := start(t, Config{MaxConns: 1})
	a := dial(t, fx.addr, jt808.V2013, "013812345678")
	s := a.send(jt808.MsgHeartbeat, nil)
	a.expectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)
	b := dial(t, fx.addr, jt808.V2013, "013900000001")
	_ = b.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := b.conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("second connection served beyond MaxConns")
	}
	if fx.srv.Stats().ConnectionsRejected != 1 {
		t.Errorf("stats %+v", fx.srv.Stats())
	}
}

func TestServeReturnsOnCancel(t *testing.T) {
	fx := start(t, Config{})
	tm := dial(t, fx.addr, jt808.V2013, "013812345678")
	s := tm.send(jt808.MsgHeartbeat, nil)
	tm.expectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)
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
	_ = tm.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := tm.conn.Read(make([]byte, 1)); err == nil {
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
	tm := dial(t, fx.addr, jt808.V2013, "010030000681")
	tm.write(mustHex(t, "7e0200406c010030000681090e00000000000c0003026c936f074c794c0004036300d7210625155739010400000000052801cc00210625155739054145bbc91e4145a2fa1141450000004145bbc8194145a1370a4145000000240200002a0200002b04000000003001153101125f0a89860418231870850620757e"))
	tm.expectGeneral(0x090e, jt808.MsgLocation, jt808.ResultFailure) // not authenticated
}

func BenchmarkLocationRoundTrip(b *testing.B) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	veh := &vehicles{byID: map[string]tracking.Vehicle{"13812345678": vehicle("truck-1", "carrier-a", "13812345678")}}
	srv := New(Config{Log: slog.New(slog.DiscardHandler), AuthSecret: []byte("k")}, veh, &discardPublisher{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx, ln)
	c, _ := net.Dial("tcp", ln.Addr().String())
	defer c.Close()
	h := jt808.Header{Version: jt808.V2013, Phone: "013812345678"}
	auth, _ := jt808.Encode(h, jt808.MsgAuth, 1, []byte(srv.AuthCode("13812345678")))
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
	c, err := net.Dial("tcp", fx.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tm := &terminal{t: t, conn: c}
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
		tm.write(frame)
		got := tm.recv()
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
	veh := &vehicles{byID: map[string]tracking.Vehicle{"13812345678": vehicle("truck-1", "carrier-a", "13812345678")}}
	srv := New(Config{Log: slog.New(slog.DiscardHandler), AuthSecret: []byte("k")}, veh, panicPublisher{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	tm := dial(t, ln.Addr().String(), jt808.V2013, "013812345678")
	tm.auth(srv.AuthCode("13812345678"))
	tm.send(jt808.MsgLocation, loc(0, fixACC, 29.5, 106.5, 0, "260115083000", ""))
	_ = tm.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := tm.conn.Read(make([]byte, 64)); err == nil {
		t.Fatal("connection survived a panic")
	}
	other := dial(t, ln.Addr().String(), jt808.V2013, "013812345678")
	s := other.send(jt808.MsgHeartbeat, nil)
	other.expectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)
}

// A report with an all-zero time (sent before the first fix) is answered 0 and not published.
func TestZeroTimeReport(t *testing.T) {
	fx := start(t, Config{})
	tm := dial(t, fx.addr, jt808.V2013, "013812345678")
	tm.auth(fx.srv.AuthCode("13812345678"))
	s := tm.send(jt808.MsgLocation, loc(0, fixACC, 29.5, 106.5, 0, "000000000000", ""))
	tm.expectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	s = tm.send(jt808.MsgLocation, []byte{1, 2, 3}) // too short for a location
	tm.expectGeneral(s, jt808.MsgLocation, jt808.ResultBadMessage)
	if n := len(fx.pub.positions()); n != 0 {
		t.Errorf("%d positions", n)
	}
}
