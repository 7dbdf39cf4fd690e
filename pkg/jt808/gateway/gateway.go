// Package gateway is Corridor's JT/T 808 TCP server (CONTRACT §5). It speaks to terminals
// through the pure jt808 codec, resolves terminals to vehicles through Vehicles and hands
// positions to Publisher; it imports no database or messaging package — the caller wires those.
//
// Session rules:
//   - 0x0100 registration → 0x8100: result 0 and an auth code when the terminal id (phone,
//     leading zeros dropped) belongs to a vehicle, else result 4. Auth codes are an HMAC of the
//     terminal id under Config.AuthSecret, so they survive restarts without storage.
//   - 0x0102 authentication → 0x8001 result 0 when the code is right (and the vehicle still
//     exists), else 1. Only an authenticated connection's reports become positions, and only
//     for the terminal it authenticated as.
//   - 0x0200 / 0x0704 → positions (valid fixes only), then 0x8001 result 0 once Publisher has
//     stored them, result 1 when publishing failed or the connection is not authenticated (so
//     the terminal keeps the report and retries); a report without a fix is answered 0.
//   - 0x0705 CAN data → 0x8001; the J1939 frames (latest per CAN id) ride on the terminal's next
//     0x0200 position in its can field if it arrives within CANMaxAge.
//   - 0x0002 heartbeat, 0x0003 deregistration → 0x8001 result 0; 2019 0x0004 → 0x8004 time.
//   - Unknown messages → 0x8001 result 3; encrypted bodies → result 3; a frame with a bad
//     check code, escape or length → result 2 when its header can be read. Terminal general
//     responses (0x0001) are not answered.
//
// Each connection has a bounded read buffer (jt808.MaxFrame), a bounded subpackage
// reassembler and an idle timeout; a connection that sends nothing but bad frames for
// MaxBadFrames frames in a row is closed. No input ends the process or another connection.
package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corridor-dev/corridor/pkg/jt808"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Vehicles resolves terminals to vehicles.
type Vehicles interface {
	// VehicleByTerminal returns the vehicle whose terminal_id is the normalised phone (digits,
	// leading zeros dropped); a tracking error with code tracking.ENOTFOUND when none.
	VehicleByTerminal(ctx context.Context, terminalID string) (tracking.Vehicle, error)
}

// Publisher stores positions.
type Publisher interface {
	// PublishPositions returns nil only after every position is durably stored (JetStream ack).
	PublishPositions(ctx context.Context, ps []tracking.Position) error
}

// Defaults for zero Config fields.
const (
	DefaultAddr        = ":6808"
	DefaultIdleTimeout = 5 * time.Minute
	DefaultMaxConns    = 10000
	// CallTimeout bounds one Vehicles or Publisher call.
	CallTimeout = 10 * time.Second
	// WriteTimeout bounds one reply write.
	WriteTimeout = 10 * time.Second
	// CANMaxAge is how long CAN frames wait for the next location report.
	CANMaxAge = 5 * time.Minute
	// MaxCANIDs bounds the distinct CAN ids kept per connection.
	MaxCANIDs = 64
	// MaxBadFrames is the number of consecutive bad frames after which a connection is closed.
	MaxBadFrames = 100
)

// Config configures a Server.
type Config struct {
	// Addr is the listen address of ListenAndServe (default DefaultAddr).
	Addr string
	// IdleTimeout closes a connection that sends nothing for this long (default 5m).
	IdleTimeout time.Duration
	// AuthSecret keys the auth codes (HMAC of the terminal id). When empty a random secret is
	// generated, and codes then change at restart (terminals re-register).
	AuthSecret []byte
	// TimeOffset is the zone of the terminals' BCD time (default fixed GMT+8).
	TimeOffset *time.Location
	// MaxConns bounds concurrent connections (default DefaultMaxConns); extra ones are closed.
	MaxConns int
	// Log receives connection-level events (default slog.Default()).
	Log *slog.Logger
}

// Server is a JT/T 808 gateway. Create it with New.
type Server struct {
	cfg      Config
	vehicles Vehicles
	pub      Publisher
	log      *slog.Logger
	secret   []byte
	sem      chan struct{}
	now      func() time.Time

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup

	framesOK, framesBad, positions, publishFailures, reportsRejected atomic.Uint64
	connsActive, connsTotal, connsRejected                           atomic.Int64
}

// Stats are the server's counters (monotonic except ConnectionsActive), for Prometheus.
type Stats struct {
	FramesOK            uint64 // frames that decoded
	FramesBad           uint64 // frames with a bad escape, check code or length
	PositionsPublished  uint64 // positions acknowledged by the Publisher
	PublishFailures     uint64 // Publisher calls that failed
	ReportsRejected     uint64 // location/batch/CAN messages from unauthenticated connections
	ConnectionsActive   int64
	ConnectionsTotal    int64
	ConnectionsRejected int64 // closed at accept because MaxConns was reached
}

// New returns a server; call Serve or ListenAndServe to run it.
func New(cfg Config, v Vehicles, p Publisher) *Server {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.TimeOffset == nil {
		cfg.TimeOffset = jt808.GMT8
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	secret := cfg.AuthSecret
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	return &Server{
		cfg: cfg, vehicles: v, pub: p, log: cfg.Log, secret: secret,
		sem:   make(chan struct{}, cfg.MaxConns),
		now:   time.Now,
		conns: make(map[net.Conn]struct{}),
	}
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		FramesOK:            s.framesOK.Load(),
		FramesBad:           s.framesBad.Load(),
		PositionsPublished:  s.positions.Load(),
		PublishFailures:     s.publishFailures.Load(),
		ReportsRejected:     s.reportsRejected.Load(),
		ConnectionsActive:   s.connsActive.Load(),
		ConnectionsTotal:    s.connsTotal.Load(),
		ConnectionsRejected: s.connsRejected.Load(),
	}
}

// AuthCode returns the auth code the server hands to a terminal id at registration.
func (s *Server) AuthCode(terminalID string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte("corridor-jt808-auth:" + terminalID))
	return hex.EncodeToString(m.Sum(nil)[:12])
}

// ListenAndServe listens on Config.Addr and serves until ctx is done.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve accepts connections on ln until ctx is done, then closes ln, stops reading from every
// connection, lets each finish the message it is handling, closes them and returns nil.
// A permanent accept error is returned (after the same clean-up).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		_ = ln.Close()
		// Under s.mu, so that no handler re-arms its idle deadline afterwards (see armRead).
		s.mu.Lock()
		for c := range s.conns {
			_ = c.SetReadDeadline(time.Unix(1, 0))
		}
		s.mu.Unlock()
	}()
	var retErr error
	backoff := 5 * time.Millisecond
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if !errors.Is(err, net.ErrClosed) {
				s.log.Warn("jt808 accept", "err", err)
				time.Sleep(backoff)
				if backoff < time.Second {
					backoff *= 2
				}
				continue
			}
			retErr = err
			break
		}
		backoff = 5 * time.Millisecond
		select {
		case s.sem <- struct{}{}:
		default:
			s.connsRejected.Add(1)
			s.log.Warn("jt808 connection limit reached", "remote", c.RemoteAddr().String(), "max", s.cfg.MaxConns)
			_ = c.Close()
			continue
		}
		s.mu.Lock()
		if ctx.Err() != nil {
			s.mu.Unlock()
			_ = c.Close()
			<-s.sem
			break
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.connsTotal.Add(1)
		s.connsActive.Add(1)
		go s.handle(ctx, c)
	}
	cancel()
	<-stopped
	s.wg.Wait()
	return retErr
}

// handle runs one connection's session and releases its slot.
func (s *Server) handle(ctx context.Context, c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
		s.connsActive.Add(-1)
		<-s.sem
		s.wg.Done()
	}()
	sess := &session{srv: s, conn: c, ctx: ctx, log: s.log.With("remote", c.RemoteAddr().String())}
	defer func() {
		// A bug (here or in a Vehicles/Publisher implementation) costs one connection, never
		// the process; the codec itself is fuzzed not to panic.
		if r := recover(); r != nil {
			sess.log.Error("jt808 session panic", "panic", r, "terminal", sess.terminalID)
		}
	}()
	sess.run()
}

// session is one terminal connection.
type session struct {
	srv  *Server
	conn net.Conn
	ctx  context.Context
	log  *slog.Logger

	split  jt808.Splitter
	reasm  jt808.Reassembler
	serial uint16 // platform serial, per connection
	bad    int    // consecutive bad frames

	authed     bool
	terminalID string
	vehicle    tracking.Vehicle

	can    map[string]tracking.CANFrame // latest frame per CAN id
	canIDs []string                     // insertion order of can
	canAt  time.Time
	closed bool
}

func (ss *session) run() {
	buf := make([]byte, 4096)
	for !ss.closed {
		if !ss.srv.armRead(ss.ctx, ss.conn) {
			return
		}
		n, err := ss.conn.Read(buf)
		if n > 0 {
			ss.split.Feed(buf[:n], ss.frame)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !ss.srv.stopping(ss.ctx) {
				ss.log.Debug("jt808 connection closed", "terminal", ss.terminalID, "err", err)
			}
			return
		}
	}
}

func (s *Server) stopping(ctx context.Context) bool { return ctx.Err() != nil }

// armRead sets the idle deadline for the next read unless the server is stopping. It holds
// s.mu so that it cannot undo the past deadline Serve sets on every connection at shutdown.
func (s *Server) armRead(ctx context.Context, c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil {
		return false
	}
	_ = c.SetReadDeadline(s.now().Add(s.cfg.IdleTimeout))
	return true
}

// frame handles one escaped frame from the splitter.
func (ss *session) frame(raw []byte) {
	if ss.closed {
		return
	}
	s := ss.srv
	f, readable, err := jt808.DecodeFrame(raw)
	if err != nil {
		s.framesBad.Add(1)
		ss.bad++
		if ss.bad >= MaxBadFrames {
			ss.log.Warn("jt808 closing connection after consecutive bad frames", "terminal", ss.terminalID, "count", ss.bad)
			ss.closed = true
			return
		}
		if readable && f.Header.MsgID != jt808.MsgTerminalResponse {
			ss.reply(jt808.GeneralResponse(f.Header, ss.next(), jt808.ResultBadMessage))
		}
		return
	}
	s.framesOK.Add(1)
	ss.bad = 0
	h := f.Header
	if h.MsgID == jt808.MsgTerminalResponse {
		return
	}
	if h.Encryption != 0 {
		ss.general(h, jt808.ResultUnsupported)
		return
	}
	msg, done, err := ss.reasm.Add(f, s.now())
	switch {
	case err != nil:
		ss.general(h, jt808.ResultBadMessage)
		return
	case !done:
		ss.general(h, jt808.ResultOK) // packet received; the message is answered when complete
		return
	}
	ss.dispatch(msg)
}

func (ss *session) dispatch(m jt808.Frame) {
	h := m.Header
	switch h.MsgID {
	case jt808.MsgHeartbeat:
		ss.general(h, jt808.ResultOK)
	case jt808.MsgDeregister:
		ss.authed = false
		ss.general(h, jt808.ResultOK)
	case jt808.MsgQueryTime:
		t := ss.srv.now().UTC()
		ss.reply(jt808.TimeResponse(h, ss.next(), t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second()))
	case jt808.MsgRegister:
		ss.register(m)
	case jt808.MsgAuth:
		ss.authenticate(m)
	case jt808.MsgLocation:
		ss.location(m)
	case jt808.MsgBatchLocation:
		ss.batch(m)
	case jt808.MsgCANData:
		ss.canData(m)
	default:
		ss.general(h, jt808.ResultUnsupported)
	}
}

func (ss *session) register(m jt808.Frame) {
	h := m.Header
	// The answer depends on the phone only; the body is informational, so an odd layout
	// does not stop a terminal from registering.
	if r, err := jt808.ParseRegister(m.Body, h.Version); err != nil {
		ss.log.Debug("jt808 registration body", "err", err)
	} else {
		ss.log.Debug("jt808 registration", "layout", r.Layout, "maker", r.Manufacturer, "model", r.Model, "plate", r.Plate)
	}
	tid, ok := h.TerminalID()
	if !ok {
		ss.reply(jt808.RegisterResponse(h, ss.next(), jt808.RegisterTerminalUnknown, ""))
		return
	}
	ctx, cancel := ss.callCtx()
	_, err := ss.srv.vehicles.VehicleByTerminal(ctx, tid)
	cancel()
	switch {
	case tracking.ErrorCode(err) == tracking.ENOTFOUND:
		ss.log.Info("jt808 registration of unknown terminal", "terminal", tid)
		ss.reply(jt808.RegisterResponse(h, ss.next(), jt808.RegisterTerminalUnknown, ""))
	case err != nil:
		ss.log.Error("jt808 vehicle lookup", "terminal", tid, "err", err)
		ss.general(h, jt808.ResultFailure) // no 0x8100 code means "try later"
	default:
		ss.reply(jt808.RegisterResponse(h, ss.next(), jt808.RegisterOK, ss.srv.AuthCode(tid)))
	}
}

func (ss *session) authenticate(m jt808.Frame) {
	h := m.Header
	a, err := jt808.ParseAuth(m.Body, h.Version)
	if err != nil {
		ss.general(h, jt808.ResultBadMessage)
		return
	}
	tid, ok := h.TerminalID()
	if !ok || !hmac.Equal([]byte(a.Code), []byte(ss.srv.AuthCode(tid))) {
		ss.authed = false
		ss.log.Info("jt808 authentication failed", "terminal", tid)
		ss.general(h, jt808.ResultFailure)
		return
	}
	ctx, cancel := ss.callCtx()
	v, err := ss.srv.vehicles.VehicleByTerminal(ctx, tid)
	cancel()
	if err != nil {
		ss.authed = false
		if tracking.ErrorCode(err) != tracking.ENOTFOUND {
			ss.log.Error("jt808 vehicle lookup", "terminal", tid, "err", err)
		}
		ss.general(h, jt808.ResultFailure)
		return
	}
	if ss.terminalID != tid {
		ss.can, ss.canIDs = nil, nil
	}
	ss.authed, ss.terminalID, ss.vehicle = true, tid, v
	ss.log = ss.srv.log.With("remote", ss.conn.RemoteAddr().String(), "terminal", tid, "vehicle_id", v.ID)
	ss.general(h, jt808.ResultOK)
}

// accepting reports whether reports with header h may become positions: the connection is
// authenticated and h is from the terminal it authenticated as. When not, it answers the report
// with result 1 (so the terminal keeps and resends it) and counts it as rejected.
func (ss *session) accepting(h jt808.Header) bool {
	if ss.authed {
		if tid, ok := h.TerminalID(); ok && tid == ss.terminalID {
			return true
		}
	}
	ss.srv.reportsRejected.Add(1)
	ss.general(h, jt808.ResultFailure)
	return false
}

func (ss *session) location(m jt808.Frame) {
	h := m.Header
	if !ss.accepting(h) {
		return
	}
	l, err := jt808.ParseLocation(m.Body, ss.srv.cfg.TimeOffset)
	if err != nil {
		ss.general(h, jt808.ResultBadMessage)
		return
	}
	p, err := l.Position(h.Version)
	if err != nil {
		ss.general(h, jt808.ResultOK) // answered, not a position
		return
	}
	ss.stamp(&p)
	attached := false
	if len(ss.can) > 0 && ss.srv.now().Sub(ss.canAt) <= CANMaxAge {
		p.CAN = make([]tracking.CANFrame, 0, len(ss.canIDs))
		for _, id := range ss.canIDs {
			p.CAN = append(p.CAN, ss.can[id])
		}
		attached = true
	}
	if ss.publish([]tracking.Position{p}) {
		if attached || len(ss.can) > 0 {
			ss.can, ss.canIDs = nil, nil
		}
		ss.general(h, jt808.ResultOK)
		return
	}
	ss.general(h, jt808.ResultFailure)
}

func (ss *session) batch(m jt808.Frame) {
	h := m.Header
	if !ss.accepting(h) {
		return
	}
	b, err := jt808.ParseBatch(m.Body, ss.srv.cfg.TimeOffset)
	if err != nil {
		ss.general(h, jt808.ResultBadMessage)
		return
	}
	ps := make([]tracking.Position, 0, len(b.Items))
	for i := range b.Items {
		p, err := b.Items[i].Position(h.Version)
		if err != nil {
			continue
		}
		ss.stamp(&p)
		ps = append(ps, p)
	}
	if len(ps) == 0 || ss.publish(ps) {
		ss.general(h, jt808.ResultOK)
		return
	}
	ss.general(h, jt808.ResultFailure)
}

func (ss *session) canData(m jt808.Frame) {
	h := m.Header
	if !ss.accepting(h) {
		return
	}
	c, err := jt808.ParseCAN(m.Body)
	if err != nil {
		ss.general(h, jt808.ResultBadMessage)
		return
	}
	frames := c.J1939Frames()
	if len(frames) > 0 {
		if ss.can == nil || ss.srv.now().Sub(ss.canAt) > CANMaxAge {
			ss.can, ss.canIDs = make(map[string]tracking.CANFrame), nil
		}
		for _, fr := range frames {
			if _, ok := ss.can[fr.ID]; !ok {
				if len(ss.canIDs) >= MaxCANIDs {
					continue
				}
				ss.canIDs = append(ss.canIDs, fr.ID)
			}
			ss.can[fr.ID] = fr
		}
		ss.canAt = ss.srv.now()
	}
	ss.general(h, jt808.ResultOK)
}

func (ss *session) stamp(p *tracking.Position) {
	p.VehicleID = ss.vehicle.ID
	p.CarrierID = ss.vehicle.CarrierID
}

// publish hands positions to the Publisher and reports success.
func (ss *session) publish(ps []tracking.Position) bool {
	ctx, cancel := ss.callCtx()
	defer cancel()
	if err := ss.srv.pub.PublishPositions(ctx, ps); err != nil {
		ss.srv.publishFailures.Add(1)
		ss.log.Error("jt808 publish", "positions", len(ps), "err", err)
		return false
	}
	ss.srv.positions.Add(uint64(len(ps)))
	return true
}

// callCtx bounds a Vehicles/Publisher call. It does not end with the server's context, so a
// message being handled at shutdown is finished (and answered) rather than cut off.
func (ss *session) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ss.ctx), CallTimeout)
}

func (ss *session) next() uint16 {
	s := ss.serial
	ss.serial++
	return s
}

func (ss *session) general(h jt808.Header, result byte) {
	ss.reply(jt808.GeneralResponse(h, ss.next(), result))
}

func (ss *session) reply(b []byte) {
	if ss.closed {
		return
	}
	_ = ss.conn.SetWriteDeadline(ss.srv.now().Add(WriteTimeout))
	if _, err := ss.conn.Write(b); err != nil {
		ss.log.Debug("jt808 write", "err", err)
		ss.closed = true
	}
}
