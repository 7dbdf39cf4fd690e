package gateway

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/jt808"
	"github.com/corridor-dev/corridor/pkg/jt808/jt808test"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// flood sends n empty-body packets of subpackaged messages announcing 65535 packets (indexes
// 1..n, cycling through 8 message ids so that each is a distinct message in progress) and
// reads the replies in the background.
func flood(t *testing.T, tm *jt808test.Terminal, n int) {
	t.Helper()
	go io.Copy(io.Discard, tm.Conn)
	ids := []uint16{jt808.MsgLocation, jt808.MsgBatchLocation, jt808.MsgCANData, 0x0201, 0x0702, 0x0800, 0x0801, 0x0900}
	phone, err := hex.DecodeString(tm.Header.Phone)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		tm.Serial++
		p := []byte{byte(ids[i%8] >> 8), byte(ids[i%8]), 1 << 5, 0} // subpackaged, empty body
		p = append(p, phone...)
		p = append(p, byte(tm.Serial>>8), byte(tm.Serial), 0xff, 0xff, byte((i/8+1)>>8), byte(i/8+1))
		buf.Write(jt808test.Wrap(append(p, jt808.Checksum(p))))
		if buf.Len() > 64<<10 {
			tm.Write(buf.Bytes())
			buf.Reset()
		}
	}
	tm.Write(buf.Bytes())
}

// The flood — empty-body subpackages announcing 65535 packets — from an unauthenticated
// and an authenticated connection leaves the heap small: packets are refused before
// authentication, totals over the part limit are refused at once, and what is held is bounded
// per connection. (Before: 9.7 MB of such frames grew the server by 55 MiB.)
func TestSubpackageFloodHeap(t *testing.T) {
	fx := start(t, Config{})
	before := heapInUse()
	const n = 100_000 // ~2 MB of frames per connection
	anon := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	authed := jt808test.Dial(t, fx.addr, jt808.V2013, "013900000001")
	authed.Auth(fx.veh.code(t, "13900000001"))
	flood(t, anon, n)
	flood(t, authed, n)
	waitFor(t, "every flooded frame handled", func() bool { return fx.srv.Stats().FramesOK >= 2*n+1 })
	// Each connection is still open (its state, if any, still held) while the heap is measured.
	after := heapInUse()
	grew := int64(after) - int64(before)
	t.Logf("heap %d → %d bytes (%+d) after %d packets announcing 65535 parts; reassembly holds %d bytes",
		before, after, grew, 2*n, fx.srv.ReassemblyBytes())
	if grew > 1<<20 {
		t.Errorf("heap grew by %d bytes", grew)
	}
	if fx.srv.ReassemblyBytes() != 0 {
		t.Errorf("reassembly holds %d bytes of messages that can never complete", fx.srv.ReassemblyBytes())
	}
	if st := fx.srv.Stats(); st.ReassemblyRefused == 0 {
		t.Errorf("stats %+v", st)
	}
}

// Within the limits, subpackaged messages of an authenticated terminal still reassemble, and
// all connections together hold at most ReassemblyBudget.
func TestReassemblyBudget(t *testing.T) {
	fx := start(t, Config{ReassemblyBudget: 3 * jt808.PartOverhead})
	a := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	a.Auth(fx.veh.code(t, "13812345678"))
	b := jt808test.Dial(t, fx.addr, jt808.V2013, "013900000001")
	b.Auth(fx.veh.code(t, "13900000001"))
	s := a.SendPacket(jt808.MsgBatchLocation, 3, 1, nil)
	a.ExpectGeneral(s, jt808.MsgBatchLocation, jt808.ResultOK)
	s = a.SendPacket(jt808.MsgBatchLocation, 3, 2, nil)
	a.ExpectGeneral(s, jt808.MsgBatchLocation, jt808.ResultOK)
	s = b.SendPacket(jt808.MsgBatchLocation, 2, 1, nil)
	b.ExpectGeneral(s, jt808.MsgBatchLocation, jt808.ResultOK)
	// The budget is spent: b's next packet is refused (result 1: try later).
	s = b.SendPacket(jt808.MsgBatchLocation, 4, 1, nil)
	b.ExpectGeneral(s, jt808.MsgBatchLocation, jt808.ResultFailure)
	// a's connection ends: its bytes return to the budget.
	a.Conn.Close()
	waitFor(t, "budget released", func() bool { return fx.srv.ReassemblyBytes() == jt808.PartOverhead })
	// Before authentication nothing is held at all.
	c := jt808test.Dial(t, fx.addr, jt808.V2013, "017299841738")
	s = c.SendPacket(jt808.MsgLocation, 2, 1, []byte{1, 2, 3})
	c.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultFailure)
	if fx.srv.ReassemblyBytes() != jt808.PartOverhead {
		t.Errorf("holds %d bytes", fx.srv.ReassemblyBytes())
	}
}

// A connection that does not authenticate within AuthTimeout is closed even while it sends
// valid heartbeats.
func TestAuthTimeout(t *testing.T) {
	fx := start(t, Config{AuthTimeout: 300 * time.Millisecond})
	tm := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("unauthenticated connection still open")
		}
		tm.Serial++
		f, _ := jt808.Encode(tm.Header, jt808.MsgHeartbeat, tm.Serial, nil)
		_ = tm.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := tm.Conn.Write(f); err != nil {
			break
		}
		_ = tm.Conn.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := tm.Conn.Read(make([]byte, 64)); err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitFor(t, "auth timeout counted", func() bool { return fx.srv.Stats().AuthTimeouts == 1 })
	// An authenticated one is not affected.
	ok := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	ok.Auth(fx.veh.code(t, "13812345678"))
	time.Sleep(400 * time.Millisecond) // past AuthTimeout; this test is about a timeout firing
	s := ok.Send(jt808.MsgHeartbeat, nil)
	ok.ExpectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)
}

// Garbage does not keep an idle connection open: only valid frames move the idle deadline.
func TestGarbageDoesNotKeepAlive(t *testing.T) {
	fx := start(t, Config{IdleTimeout: 300 * time.Millisecond})
	tm := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	tm.Auth(fx.veh.code(t, "13812345678"))
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		// Bytes that never form a valid frame, and fewer than MaxBadFrames bad frames.
		_ = tm.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := tm.Conn.Write([]byte("\x7e\x01\x02\x7e")); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
		if fx.srv.Stats().IdleTimeouts == 1 {
			break
		}
	}
	waitFor(t, "idle timeout despite garbage", func() bool { return fx.srv.Stats().IdleTimeouts == 1 })
}

// A source address may hold at most MaxConnsPerIP connections.
func TestMaxConnsPerIP(t *testing.T) {
	fx := start(t, Config{MaxConnsPerIP: 2})
	a := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	b := jt808test.Dial(t, fx.addr, jt808.V2013, "013900000001")
	for _, tm := range []*jt808test.Terminal{a, b} {
		s := tm.Send(jt808.MsgHeartbeat, nil)
		tm.ExpectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)
	}
	c := jt808test.Dial(t, fx.addr, jt808.V2013, "017299841738")
	_ = c.Conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("third connection from one address served")
	}
	if st := fx.srv.Stats(); st.ConnectionsRejectedPerIP != 1 {
		t.Errorf("stats %+v", st)
	}
	a.Conn.Close()
	waitFor(t, "slot freed", func() bool { return fx.srv.Stats().ConnectionsActive == 1 })
	d := jt808test.Dial(t, fx.addr, jt808.V2013, "017299841738")
	s := d.Send(jt808.MsgHeartbeat, nil)
	d.ExpectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)
}

// A second authenticated connection of the same terminal replaces the first.
func TestSecondConnectionReplacesFirst(t *testing.T) {
	fx := start(t, Config{})
	code := fx.veh.code(t, "13812345678")
	first := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	first.Auth(code)
	second := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	second.Auth(code)
	_ = first.Conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := first.Conn.Read(make([]byte, 64)); err == nil {
		t.Fatal("first connection still open")
	}
	s := second.Send(jt808.MsgLocation, loc(0, fixACC, 29.5, 106.5, 0, "260115083000", ""))
	second.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	if st := fx.srv.Stats(); st.SessionsReplaced != 1 || len(fx.pub.positions()) != 1 {
		t.Errorf("stats %+v, %d positions", st, len(fx.pub.positions()))
	}
}

// Revalidate closes sessions whose vehicle went away or changed, and keeps the others.
func TestRevalidate(t *testing.T) {
	fx := start(t, Config{})
	a := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	a.Auth(fx.veh.code(t, "13812345678"))
	b := jt808test.Dial(t, fx.addr, jt808.V2013, "013900000001")
	b.Auth(fx.veh.code(t, "13900000001"))
	c := jt808test.Dial(t, fx.addr, jt808.V2013, "017299841738")
	c.Auth(fx.veh.code(t, "17299841738"))
	fx.veh.set(func(v *terminals) {
		delete(v.byID, "13812345678")                                          // vehicle deleted
		v.byID["13900000001"] = vehicle("truck-9", "carrier-b", "13900000001") // terminal moved
	})
	fx.srv.RevalidateVehicles(context.Background(), []string{"truck-7"}) // no session of it: nothing happens
	s := a.Send(jt808.MsgHeartbeat, nil)
	a.ExpectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)
	fx.srv.RevalidateVehicles(context.Background(), []string{"truck-1"})
	fx.srv.Revalidate(context.Background())
	for _, tm := range []*jt808test.Terminal{a, b} {
		_ = tm.Conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := tm.Conn.Read(make([]byte, 64)); err == nil {
			t.Errorf("%s: session kept after its vehicle changed", tm.Header.Phone)
		}
	}
	s = c.Send(jt808.MsgHeartbeat, nil)
	c.ExpectGeneral(s, jt808.MsgHeartbeat, jt808.ResultOK)
	if st := fx.srv.Stats(); st.SessionsClosedOnChange != 2 {
		t.Errorf("stats %+v", st)
	}
	// The moved terminal authenticates again and now reports as its new vehicle.
	b2 := jt808test.Dial(t, fx.addr, jt808.V2013, "013900000001")
	b2.Auth(b2Code(t, fx))
	s = b2.Send(jt808.MsgLocation, loc(0, fixACC, 29.5, 106.5, 0, "260115083000", ""))
	b2.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	if ps := fx.pub.positions(); len(ps) != 1 || ps[0].VehicleID != "truck-9" || ps[0].CarrierID != "carrier-b" {
		t.Errorf("positions %+v", ps)
	}
}

// b2Code re-registers 13900000001 (its registration was reset after the move) and returns the code.
func b2Code(t *testing.T, fx *fixture) string {
	fx.veh.set(func(v *terminals) { delete(v.reg, "13900000001") })
	return fx.veh.code(t, "13900000001")
}

// recorder is a RejectionRecorder.
type recorder struct {
	mu  sync.Mutex
	got []Rejection
	err error
}

func (r *recorder) RecordRejections(_ context.Context, rs []Rejection) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.got = append(r.got, rs...)
	return nil
}

// A fix dated more than 2 minutes ahead or more than 7 days back is not acknowledged as
// stored: it is answered 1, counted, logged and recorded; the vehicle's time offset applies.
func TestFixTimeJudged(t *testing.T) {
	rec := &recorder{}
	var logs bytes.Buffer
	var mu sync.Mutex
	fx := start(t, Config{Rejections: rec, Log: slog.New(slog.NewTextHandler(syncWriter{&mu, &logs}, nil))})
	tm := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	tm.Auth(fx.veh.code(t, "13812345678"))
	// testNow is 2026-01-15 12:00 UTC = 20:00 GMT+8.
	s := tm.Send(jt808.MsgLocation, loc(0, fixACC, 29.5, 106.5, 0, "260115200500", "")) // 5 min ahead
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultFailure)
	s = tm.Send(jt808.MsgLocation, loc(0, fixACC, 29.5, 106.5, 0, "200115200000", "")) // year 2020
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultFailure)
	s = tm.Send(jt808.MsgLocation, loc(0, fixACC, 29.5, 106.5, 0, "260115200100", "")) // 1 min ahead: fine
	tm.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	// A batch with one good and one stale fix: the good one is stored, the batch answered 0.
	s = tm.Send(jt808.MsgBatchLocation, jt808test.Batch(1, loc(0, fixACC, 29.5, 106.5, 0, "260115100000", ""),
		loc(0, fixACC, 29.5, 106.5, 0, "250115100000", "")))
	tm.ExpectGeneral(s, jt808.MsgBatchLocation, jt808.ResultOK)
	// A batch of stale fixes only: answered 1.
	s = tm.Send(jt808.MsgBatchLocation, jt808test.Batch(1, loc(0, fixACC, 29.5, 106.5, 0, "250115100000", "")))
	tm.ExpectGeneral(s, jt808.MsgBatchLocation, jt808.ResultFailure)
	if n := len(fx.pub.positions()); n != 2 {
		t.Errorf("%d positions stored, want 2", n)
	}
	st := fx.srv.Stats()
	if st.FutureFixes != 1 || st.StaleFixes != 3 {
		t.Errorf("stats %+v", st)
	}
	rec.mu.Lock()
	if len(rec.got) != 4 || rec.got[0].Reason != tracking.ReasonFutureFix || rec.got[1].Reason != tracking.ReasonStaleFix ||
		rec.got[0].Position.VehicleID != "truck-1" || rec.got[0].Position.CarrierID != "carrier-a" ||
		!strings.Contains(rec.got[0].Detail, "2026-01-15T12:05:00Z") {
		t.Errorf("recorded %+v", rec.got)
	}
	rec.mu.Unlock()
	mu.Lock()
	if !strings.Contains(logs.String(), "level=WARN msg=\"jt808 fix refused: terminal clock wrong\"") || !strings.Contains(logs.String(), "reason=future_fix") {
		t.Errorf("log:\n%s", logs.String())
	}
	mu.Unlock()

	// A terminal whose vehicle says its clock is UTC: the same BCD time is 8 h later, so
	// 12:05 is in the future and 11:59 is not.
	fx.veh.set(func(v *terminals) {
		veh := v.byID["13900000001"]
		utc := "+00:00"
		veh.JT808TimeOffset = &utc
		v.byID["13900000001"] = veh
	})
	tm2 := jt808test.Dial(t, fx.addr, jt808.V2013, "013900000001")
	tm2.Auth(fx.veh.code(t, "13900000001"))
	s = tm2.Send(jt808.MsgLocation, loc(0, fixACC, 29.5, 106.5, 0, "260115115900", ""))
	tm2.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultOK)
	ps := fx.pub.positions()
	if last := ps[len(ps)-1]; !last.TS.Equal(time.Date(2026, 1, 15, 11, 59, 0, 0, time.UTC)) {
		t.Errorf("ts %v with the vehicle's offset +00:00", last.TS)
	}
	// Recording failures are counted; the fix is still refused.
	rec.mu.Lock()
	rec.err = errors.New("nats down")
	rec.mu.Unlock()
	s = tm2.Send(jt808.MsgLocation, loc(0, fixACC, 29.5, 106.5, 0, "260115120500", ""))
	tm2.ExpectGeneral(s, jt808.MsgLocation, jt808.ResultFailure)
	if st := fx.srv.Stats(); st.RejectionRecordFailures != 1 {
		t.Errorf("stats %+v", st)
	}
}

type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// One source cannot flood the log: lines about its bad frames and refused attempts are
// rate-limited per address, the rest counted.
func TestLogRateLimited(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	fx := start(t, Config{Log: slog.New(slog.NewTextHandler(syncWriter{&mu, &logs}, nil)),
		Limits: Limits{LogPerIP: Limit{Every: time.Hour, Burst: 5}}})
	for range 20 {
		c, err := net.Dial("tcp", fx.addr)
		if err != nil {
			t.Fatal(err)
		}
		go io.Copy(io.Discard, c)
		// Bad frames until the gateway closes the connection (MaxBadFrames).
		junk := bytes.Repeat([]byte("\x7e\x00\x02\x00\x00\x01\x38\x12\x34\x56\x78\x00\x01\x00\x7e"), MaxBadFrames)
		_, _ = c.Write(junk)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, c)
		c.Close()
	}
	waitFor(t, "connections closed", func() bool { return fx.srv.Stats().ConnectionsActive == 0 })
	mu.Lock()
	lines := strings.Count(logs.String(), "\n")
	mu.Unlock()
	if lines > 5 {
		t.Errorf("%d log lines from one source:\n%s", lines, logs.String())
	}
	if st := fx.srv.Stats(); st.LogsSuppressed < 20 || st.FramesBad < 20*MaxBadFrames {
		t.Errorf("stats %+v", st)
	}
}

// Registration, authentication, replacement and disconnection are logged at INFO with the
// terminal id.
func TestOperationsLog(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	fx := start(t, Config{Log: slog.New(slog.NewTextHandler(syncWriter{&mu, &logs}, nil))})
	tm := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	_, code := tm.Register()
	tm.Auth(code)
	tm2 := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	tm2.Auth(code)
	tm2.Conn.Close()
	waitFor(t, "both connections closed", func() bool { return fx.srv.Stats().ConnectionsActive == 0 })
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{
		`level=INFO msg="jt808 terminal registered"`,
		`level=INFO msg="jt808 terminal authenticated"`,
		`level=INFO msg="jt808 session replaced by a new connection of the same terminal"`,
		`level=INFO msg="jt808 terminal disconnected"`,
	} {
		found := false
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, want) && strings.Contains(line, "terminal=13812345678") {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s with the terminal id in:\n%s", want, logs.String())
		}
	}
	if n := strings.Count(logs.String(), `msg="jt808 terminal disconnected"`); n != 2 {
		t.Errorf("%d disconnections logged, want 2", n)
	}
}
