// Package gateway is Corridor's JT/T 808 TCP server (CONTRACT §5). It speaks to terminals
// through the pure jt808 codec, registers terminals and resolves them to vehicles through
// Terminals and hands positions to Publisher; it imports no database or messaging package —
// the caller wires those.
//
// Session rules:
//   - 0x0100 registration → 0x8100: result 0 and a new random auth code (stored only as its
//     SHA-256 by Terminals) when the terminal id (phone, leading zeros dropped) belongs to a
//     vehicle and is not registered yet. A registered terminal gets result 3 until an admin
//     resets it (POST /v1/vehicles/{id}/terminal/reset); so does a terminal no vehicle has, so
//     that the answer does not tell which phone numbers exist (the log says which it was).
//   - 0x0102 authentication → 0x8001 result 0 when the code's hash matches the registration,
//     else 1. Only an authenticated connection's reports become positions, and only for the
//     terminal it authenticated as. A second authenticated connection of the same terminal
//     replaces the first (the first is closed). Registration and authentication attempts are
//     rate-limited per source address and per terminal (answered 0x8001 result 1).
//   - 0x0200 / 0x0704 → positions (valid fixes only), then 0x8001 result 0 once Publisher has
//     stored them, result 1 when publishing failed or the connection is not authenticated (so
//     the terminal keeps the report and retries); a report without a fix is answered 0. A fix
//     whose time is more than 2 minutes ahead or older than 7 days (tracking.CheckFixTime) is
//     not published: it is counted, logged, recorded through Config.Rejections and answered 1
//     (a batch is answered 1 only when every fix in it was refused so).
//   - 0x0705 CAN data → 0x8001; the J1939 frames (latest per CAN id) ride on the terminal's next
//     0x0200 position in its can field if it arrives within CANMaxAge.
//   - 0x0002 heartbeat → 0x8001 result 0; 2019 0x0004 → 0x8004 time. 0x0003 deregistration →
//     result 0; on the terminal's authenticated connection it also removes the registration
//     (the terminal registers again next, as the standard has it), elsewhere it only ends the
//     connection's authentication.
//   - Unknown messages → 0x8001 result 3; encrypted bodies → result 3; a frame with a bad
//     check code, escape or length → result 2 when its header can be read. Terminal general
//     responses (0x0001) are not answered.
//
// Limits: at most MaxConns connections, MaxConnsPerIP from one source address; a connection
// must authenticate within AuthTimeout and is closed after IdleTimeout without a valid frame
// (garbage does not keep it open) or after MaxBadFrames bad frames in a row. Subpackaged
// messages are reassembled only for an authenticated terminal, within per-connection part and
// byte limits and a budget shared by all connections (ReassemblyBudget). Logging of what one
// source does wrong is rate-limited per source address. No input ends the process or another
// connection.
package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corridor-dev/corridor/pkg/jt808"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Terminals registers terminals and resolves them to vehicles. Terminal ids are normalised
// phones (digits, leading zeros dropped).
type Terminals interface {
	// RegisterTerminal stores authHash (SHA-256 of a new auth code) as terminalID's
	// registration and returns its vehicle. ENOTFOUND when no vehicle has the terminal id;
	// ECONFLICT when the terminal is registered already.
	RegisterTerminal(ctx context.Context, terminalID string, authHash []byte) (tracking.Vehicle, error)
	// RegisteredTerminal returns the vehicle terminalID is registered for and the hash of its
	// auth code; ENOTFOUND when it is not registered, or when its registration no longer holds
	// (the vehicle was deleted or the terminal id moved to another vehicle).
	RegisteredTerminal(ctx context.Context, terminalID string) (tracking.Vehicle, []byte, error)
	// DeregisterTerminal removes terminalID's registration (the terminal's own 0x0003, sent
	// on an authenticated connection); removing nothing is not an error.
	DeregisterTerminal(ctx context.Context, terminalID string) error
}

// Publisher stores positions.
type Publisher interface {
	// PublishPositions returns nil only after every position is durably stored (JetStream ack).
	PublishPositions(ctx context.Context, ps []tracking.Position) error
}

// Rejection is a fix the gateway refused, for the vehicle's operators to see.
type Rejection struct {
	Position tracking.Position // VehicleID and CarrierID set
	Reason   string            // tracking.ReasonStaleFix or tracking.ReasonFutureFix
	Detail   string
}

// RejectionRecorder records refused fixes (as dead letters, CONTRACT §2).
type RejectionRecorder interface {
	RecordRejections(ctx context.Context, rs []Rejection) error
}

// Defaults for zero Config fields.
const (
	DefaultAddr             = ":6808"
	DefaultIdleTimeout      = 5 * time.Minute
	DefaultAuthTimeout      = time.Minute
	DefaultMaxConns         = 10000
	DefaultMaxConnsPerIP    = 256
	DefaultReassemblyBudget = 32 << 20
	// CallTimeout bounds one Terminals or Publisher call.
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
	// IdleTimeout closes a connection that sends no valid frame for this long (default 5m).
	IdleTimeout time.Duration
	// AuthTimeout closes a connection that has not authenticated this long after it opened
	// (default 1m).
	AuthTimeout time.Duration
	// TimeOffset is the zone of the terminals' BCD time (default fixed GMT+8); a vehicle's
	// JT808TimeOffset overrides it for its terminal.
	TimeOffset *time.Location
	// MaxConns bounds concurrent connections (default DefaultMaxConns); extra ones are closed.
	MaxConns int
	// MaxConnsPerIP bounds concurrent connections from one source address (default
	// DefaultMaxConnsPerIP; terminals behind a carrier-grade NAT share an address).
	MaxConnsPerIP int
	// ReassemblyBudget bounds the bytes held by all connections' subpackage reassembly
	// together (default DefaultReassemblyBudget).
	ReassemblyBudget int64
	// Limits of registration/authentication attempts and of logging (default DefaultLimits).
	Limits Limits
	// Rejections records refused fixes (optional: without it they are counted and logged only).
	Rejections RejectionRecorder
	// Log receives connection-level events (default slog.Default()).
	Log *slog.Logger
}

// Server is a JT/T 808 gateway. Create it with New.
type Server struct {
	cfg       Config
	terminals Terminals
	pub       Publisher
	log       *slog.Logger
	sem       chan struct{}
	fixNow    func() time.Time // the clock fix times are judged against (tests set it)
	budget    *jt808.Budget
	lim       *limiters

	mu         sync.Mutex
	conns      map[net.Conn]struct{}
	perIP      map[string]int
	byTerminal map[string]*session
	wg         sync.WaitGroup

	framesOK, framesBad, positions, publishFailures, reportsRejected        atomic.Uint64
	registered, registerRefused, authOK, authFailed, attemptsLimited        atomic.Uint64
	authTimeouts, idleTimeouts, replaced, closedOnChange, reassemblyRefused atomic.Uint64
	staleFixes, futureFixes, logsSuppressed, rejectionRecordFailures        atomic.Uint64
	connsActive, connsTotal, connsRejected, connsRejectedIP                 atomic.Int64
}

// Stats are the server's counters (monotonic except ConnectionsActive), for Prometheus.
type Stats struct {
	FramesOK                 uint64 // frames that decoded
	FramesBad                uint64 // frames with a bad escape, check code or length
	PositionsPublished       uint64 // positions acknowledged by the Publisher
	PublishFailures          uint64 // Publisher calls that failed
	ReportsRejected          uint64 // location/batch/CAN messages from unauthenticated connections
	Registrations            uint64 // terminals registered (result 0)
	RegistrationsRefused     uint64 // registrations answered result 3 (registered or unknown terminal)
	AuthOK                   uint64 // successful authentications
	AuthFailed               uint64 // failed authentications
	AttemptsLimited          uint64 // registration/authentication attempts refused by the rate limits
	AuthTimeouts             uint64 // connections closed for not authenticating in time
	IdleTimeouts             uint64 // connections closed for sending no valid frame in time
	SessionsReplaced         uint64 // sessions closed because the terminal authenticated again elsewhere
	SessionsClosedOnChange   uint64 // sessions closed because their vehicle changed (Revalidate)
	ReassemblyRefused        uint64 // packets refused by the reassembly limits or before authentication
	StaleFixes               uint64 // fixes refused as older than 7 days
	FutureFixes              uint64 // fixes refused as more than 2 minutes ahead
	RejectionRecordFailures  uint64 // Rejections calls that failed
	LogsSuppressed           uint64 // log lines dropped by the per-source log limit
	ConnectionsActive        int64
	ConnectionsTotal         int64
	ConnectionsRejected      int64 // closed at accept because MaxConns was reached
	ConnectionsRejectedPerIP int64 // closed at accept because MaxConnsPerIP was reached
}

// New returns a server; call Serve or ListenAndServe to run it.
func New(cfg Config, t Terminals, p Publisher) *Server {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = DefaultAuthTimeout
	}
	if cfg.TimeOffset == nil {
		cfg.TimeOffset = jt808.GMT8
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxConnsPerIP <= 0 {
		cfg.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if cfg.ReassemblyBudget <= 0 {
		cfg.ReassemblyBudget = DefaultReassemblyBudget
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Server{
		cfg: cfg, terminals: t, pub: p, log: cfg.Log,
		sem:        make(chan struct{}, cfg.MaxConns),
		fixNow:     time.Now,
		budget:     jt808.NewBudget(cfg.ReassemblyBudget),
		lim:        newLimiters(cfg.Limits),
		conns:      make(map[net.Conn]struct{}),
		perIP:      make(map[string]int),
		byTerminal: make(map[string]*session),
	}
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		FramesOK:                 s.framesOK.Load(),
		FramesBad:                s.framesBad.Load(),
		PositionsPublished:       s.positions.Load(),
		PublishFailures:          s.publishFailures.Load(),
		ReportsRejected:          s.reportsRejected.Load(),
		Registrations:            s.registered.Load(),
		RegistrationsRefused:     s.registerRefused.Load(),
		AuthOK:                   s.authOK.Load(),
		AuthFailed:               s.authFailed.Load(),
		AttemptsLimited:          s.attemptsLimited.Load(),
		AuthTimeouts:             s.authTimeouts.Load(),
		IdleTimeouts:             s.idleTimeouts.Load(),
		SessionsReplaced:         s.replaced.Load(),
		SessionsClosedOnChange:   s.closedOnChange.Load(),
		ReassemblyRefused:        s.reassemblyRefused.Load(),
		StaleFixes:               s.staleFixes.Load(),
		FutureFixes:              s.futureFixes.Load(),
		RejectionRecordFailures:  s.rejectionRecordFailures.Load(),
		LogsSuppressed:           s.logsSuppressed.Load(),
		ConnectionsActive:        s.connsActive.Load(),
		ConnectionsTotal:         s.connsTotal.Load(),
		ConnectionsRejected:      s.connsRejected.Load(),
		ConnectionsRejectedPerIP: s.connsRejectedIP.Load(),
	}
}

// ReassemblyBytes returns the bytes all connections hold in subpackage reassembly.
func (s *Server) ReassemblyBytes() int64 { return s.budget.Used() }

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
		// Under s.mu, so that no handler re-arms its deadline afterwards (see armRead).
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
		if !s.admit(ctx, c) {
			if ctx.Err() != nil {
				break
			}
			continue
		}
		go s.handle(ctx, c)
	}
	cancel()
	<-stopped
	s.wg.Wait()
	return retErr
}

// admit takes a connection slot (global and per source address) for c, or closes c.
func (s *Server) admit(ctx context.Context, c net.Conn) bool {
	ip := remoteIP(c)
	select {
	case s.sem <- struct{}{}:
	default:
		s.connsRejected.Add(1)
		if s.lim.log(ip) {
			s.log.Warn("jt808 connection limit reached", "remote", c.RemoteAddr().String(), "max", s.cfg.MaxConns)
		} else {
			s.logsSuppressed.Add(1)
		}
		_ = c.Close()
		return false
	}
	s.mu.Lock()
	if ctx.Err() != nil {
		s.mu.Unlock()
		_ = c.Close()
		<-s.sem
		return false
	}
	if s.perIP[ip] >= s.cfg.MaxConnsPerIP {
		s.mu.Unlock()
		s.connsRejectedIP.Add(1)
		if s.lim.log(ip) {
			s.log.Warn("jt808 connection limit per source address reached", "remote", c.RemoteAddr().String(), "max", s.cfg.MaxConnsPerIP)
		} else {
			s.logsSuppressed.Add(1)
		}
		_ = c.Close()
		<-s.sem
		return false
	}
	s.perIP[ip]++
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.connsTotal.Add(1)
	s.connsActive.Add(1)
	return true
}

// handle runs one connection's session and releases its slot.
func (s *Server) handle(ctx context.Context, c net.Conn) {
	ip := remoteIP(c)
	sess := &session{srv: s, conn: c, ctx: ctx, ip: ip, opened: time.Now(),
		log: s.log.With("remote", c.RemoteAddr().String())}
	sess.lastValid = sess.opened
	sess.reasm = jt808.Reassembler{Budget: s.budget}
	defer func() {
		sess.reasm.Reset()
		s.mu.Lock()
		delete(s.conns, c)
		if s.perIP[ip]--; s.perIP[ip] <= 0 {
			delete(s.perIP, ip)
		}
		if sess.terminalID != "" && s.byTerminal[sess.terminalID] == sess {
			delete(s.byTerminal, sess.terminalID)
		}
		s.mu.Unlock()
		_ = c.Close()
		s.connsActive.Add(-1)
		<-s.sem
		s.wg.Done()
	}()
	defer func() {
		// A bug (here or in a Terminals/Publisher implementation) costs one connection, never
		// the process; the codec itself is fuzzed not to panic.
		if r := recover(); r != nil {
			sess.log.Error("jt808 session panic", "panic", r, "terminal", sess.terminalID)
		}
	}()
	sess.run()
}

// remoteIP is the source address of c without its port.
func remoteIP(c net.Conn) string {
	a := c.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(a); err == nil {
		return h
	}
	return a
}

func (s *Server) stopping(ctx context.Context) bool { return ctx.Err() != nil }

// armRead sets the read deadline unless the server is stopping. It holds s.mu so that it
// cannot undo the past deadline Serve sets on every connection at shutdown.
func (s *Server) armRead(ctx context.Context, c net.Conn, deadline time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil {
		return false
	}
	_ = c.SetReadDeadline(deadline)
	return true
}

// Revalidate re-resolves every authenticated session's terminal (call it when vehicles
// change: a vehicle deleted, a terminal id moved, a time offset changed). A session whose
// registration no longer holds, or whose vehicle (id, carrier or time offset) differs, is
// closed, so that the terminal reconnects and authenticates again; a lookup that fails for
// another reason leaves the session as it is.
func (s *Server) Revalidate(ctx context.Context) { s.revalidate(ctx, nil) }

// RevalidateVehicles is Revalidate for the sessions of the given vehicles only (a change
// notification names the changed vehicle; a terminal id moving between vehicles changes both).
func (s *Server) RevalidateVehicles(ctx context.Context, vehicleIDs []string) {
	if len(vehicleIDs) == 0 {
		return
	}
	only := make(map[string]bool, len(vehicleIDs))
	for _, id := range vehicleIDs {
		only[id] = true
	}
	s.revalidate(ctx, only)
}

func (s *Server) revalidate(ctx context.Context, only map[string]bool) {
	type entry struct {
		ss  *session
		tid string
		v   tracking.Vehicle
	}
	s.mu.Lock()
	list := make([]entry, 0, len(s.byTerminal))
	for tid, ss := range s.byTerminal {
		if only == nil || only[ss.vehicle.ID] {
			list = append(list, entry{ss, tid, ss.vehicle})
		}
	}
	s.mu.Unlock()
	for _, e := range list {
		cctx, cancel := context.WithTimeout(ctx, CallTimeout)
		v, _, err := s.terminals.RegisteredTerminal(cctx, e.tid)
		cancel()
		why := ""
		switch {
		case tracking.ErrorCode(err) == tracking.ENOTFOUND:
			why = "the terminal's registration no longer holds (vehicle deleted or terminal id moved)"
		case err != nil:
			s.log.Warn("jt808 revalidating a session", "terminal", e.tid, "err", err)
			continue
		case v.ID != e.v.ID || v.CarrierID != e.v.CarrierID || deref(v.JT808TimeOffset) != deref(e.v.JT808TimeOffset):
			why = "the terminal's vehicle changed"
		default:
			continue
		}
		s.closedOnChange.Add(1)
		s.log.Info("jt808 closing session: "+why, "terminal", e.tid, "vehicle_id", e.v.ID, "carrier_id", e.v.CarrierID)
		e.ss.kick()
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
