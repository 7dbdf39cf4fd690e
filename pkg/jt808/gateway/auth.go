package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"

	"github.com/corridor-dev/corridor/pkg/jt808"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// NewAuthCode returns a random auth code (96 bits as 24 hex digits) and its SHA-256, the form
// in which it is stored.
func NewAuthCode() (code string, hash []byte) {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	code = hex.EncodeToString(b)
	return code, HashAuthCode(code)
}

// HashAuthCode returns the stored form of an auth code.
func HashAuthCode(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}

func (ss *session) register(m jt808.Frame) {
	s := ss.srv
	h := m.Header
	// The answer depends on the phone only; the body is informational, so an odd layout
	// does not stop a terminal from registering.
	r, perr := jt808.ParseRegister(m.Body, h.Version)
	tid, ok := h.TerminalID()
	if !ok {
		s.registerRefused.Add(1)
		ss.warn(slog.LevelInfo, "jt808 registration refused: unreadable terminal phone", "phone", h.Phone)
		ss.reply(jt808.RegisterResponse(h, ss.next(), jt808.RegisterTerminalRegistered, ""))
		return
	}
	if !s.lim.attempt(ss.ip, tid) {
		s.attemptsLimited.Add(1)
		ss.warn(slog.LevelWarn, "jt808 registration refused: too many attempts", "terminal", tid)
		ss.general(h, jt808.ResultFailure)
		return
	}
	code, hash := NewAuthCode()
	ctx, cancel := ss.callCtx()
	v, err := s.terminals.RegisterTerminal(ctx, tid, hash)
	cancel()
	switch tracking.ErrorCode(err) {
	case "":
		s.registered.Add(1)
		args := []any{"terminal", tid, "vehicle_id", v.ID, "carrier_id", v.CarrierID, "version", h.Version.String()}
		if perr == nil {
			args = append(args, "maker", r.Manufacturer, "model", r.Model, "plate", r.Plate)
		}
		ss.log.Info("jt808 terminal registered", args...)
		ss.reply(jt808.RegisterResponse(h, ss.next(), jt808.RegisterOK, code))
	case tracking.ENOTFOUND, tracking.ECONFLICT:
		// Both answered 3, so that the answer does not tell which numbers belong to vehicles.
		s.registerRefused.Add(1)
		why := "terminal registered already (an admin resets it: POST /v1/vehicles/{id}/terminal/reset)"
		if tracking.ErrorCode(err) == tracking.ENOTFOUND {
			why = "no vehicle has this terminal id"
		}
		ss.warn(slog.LevelInfo, "jt808 registration refused: "+why, "terminal", tid)
		ss.reply(jt808.RegisterResponse(h, ss.next(), jt808.RegisterTerminalRegistered, ""))
	default:
		ss.log.Error("jt808 registration", "terminal", tid, "err", err)
		ss.general(h, jt808.ResultFailure) // no 0x8100 code means "try later"
	}
}

func (ss *session) authenticate(m jt808.Frame) {
	s := ss.srv
	h := m.Header
	a, err := jt808.ParseAuth(m.Body, h.Version)
	if err != nil {
		ss.general(h, jt808.ResultBadMessage)
		return
	}
	tid, ok := h.TerminalID()
	if !ok {
		ss.authFailed(h, tid, "unreadable terminal phone")
		return
	}
	if !s.lim.attempt(ss.ip, tid) {
		s.attemptsLimited.Add(1)
		ss.warn(slog.LevelWarn, "jt808 authentication refused: too many attempts", "terminal", tid)
		ss.unauthenticate()
		ss.general(h, jt808.ResultFailure)
		return
	}
	ctx, cancel := ss.callCtx()
	v, hash, err := s.terminals.RegisteredTerminal(ctx, tid)
	cancel()
	switch {
	case tracking.ErrorCode(err) == tracking.ENOTFOUND:
		ss.authFailed(h, tid, "terminal not registered")
		return
	case err != nil:
		ss.log.Error("jt808 authentication", "terminal", tid, "err", err)
		ss.unauthenticate()
		ss.general(h, jt808.ResultFailure)
		return
	case subtle.ConstantTimeCompare(HashAuthCode(a.Code), hash) != 1:
		ss.authFailed(h, tid, "wrong auth code")
		return
	}
	offset := s.cfg.TimeOffset
	if v.JT808TimeOffset != nil {
		if l, err := tracking.ParseUTCOffset(*v.JT808TimeOffset); err == nil {
			offset = l
		}
	}
	if ss.terminalID != tid {
		ss.can, ss.canIDs = nil, nil
	}
	ss.bind(tid, v)
	ss.authed, ss.offset = true, offset
	s.authOK.Add(1)
	ss.log = s.log.With("remote", ss.conn.RemoteAddr().String(), "terminal", tid, "vehicle_id", v.ID, "carrier_id", v.CarrierID)
	ss.log.Info("jt808 terminal authenticated", "version", h.Version.String(), "time_offset", offset.String())
	ss.general(h, jt808.ResultOK)
}

// authFailed answers a failed authentication (result 1) and ends the connection's
// authentication.
func (ss *session) authFailed(h jt808.Header, tid, why string) {
	ss.srv.authFailed.Add(1)
	ss.warn(slog.LevelInfo, "jt808 authentication failed: "+why, "terminal", tid)
	ss.unauthenticate()
	ss.general(h, jt808.ResultFailure)
}

// bind makes ss the session of terminal tid for vehicle v; a session of the same terminal on
// another connection is closed (JT/T 808-2019: the new connection replaces the old one).
func (ss *session) bind(tid string, v tracking.Vehicle) {
	s := ss.srv
	s.mu.Lock()
	if ss.terminalID != "" && ss.terminalID != tid && s.byTerminal[ss.terminalID] == ss {
		delete(s.byTerminal, ss.terminalID)
	}
	old := s.byTerminal[tid]
	s.byTerminal[tid] = ss
	ss.terminalID, ss.vehicle = tid, v
	s.mu.Unlock()
	if old != nil && old != ss {
		s.replaced.Add(1)
		s.log.Info("jt808 session replaced by a new connection of the same terminal", "terminal", tid,
			"old_remote", old.conn.RemoteAddr().String(), "remote", ss.conn.RemoteAddr().String())
		old.kick()
	}
}

// unauthenticate ends the connection's authentication (its reports are no longer accepted).
func (ss *session) unauthenticate() {
	if !ss.authed {
		return
	}
	ss.authed = false
	s := ss.srv
	s.mu.Lock()
	if s.byTerminal[ss.terminalID] == ss {
		delete(s.byTerminal, ss.terminalID)
	}
	s.mu.Unlock()
}

// deregister handles 0x0003: from the authenticated terminal itself it removes the
// registration (answered 1 when that fails, so the terminal retries); in any case the
// connection's authentication ends.
func (ss *session) deregister(h jt808.Header) {
	tid, ok := h.TerminalID()
	if !ss.authed || !ok || tid != ss.terminalID {
		ss.unauthenticate()
		ss.general(h, jt808.ResultOK)
		return
	}
	ctx, cancel := ss.callCtx()
	err := ss.srv.terminals.DeregisterTerminal(ctx, tid)
	cancel()
	if err != nil {
		ss.log.Error("jt808 deregistration", "err", err)
		ss.general(h, jt808.ResultFailure)
		return
	}
	ss.log.Info("jt808 terminal deregistered (it must register again)")
	ss.unauthenticate()
	ss.general(h, jt808.ResultOK)
}
