package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/corridor-dev/corridor/pkg/jt808"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// session is one terminal connection. Its fields belong to the connection's goroutine, except
// vehicle, which is written under srv.mu (Revalidate reads it).
type session struct {
	srv  *Server
	conn net.Conn
	ctx  context.Context
	log  *slog.Logger
	ip   string

	split     jt808.Splitter
	reasm     jt808.Reassembler
	serial    uint16 // platform serial, per connection
	bad       int    // consecutive bad frames
	opened    time.Time
	lastValid time.Time // when the last frame that decoded arrived

	authed     bool
	terminalID string
	vehicle    tracking.Vehicle
	offset     *time.Location // BCD time zone of this terminal

	can    map[string]tracking.CANFrame // latest frame per CAN id
	canIDs []string                     // insertion order of can
	canAt  time.Time
	closed bool
}

// kick ends the session from another goroutine: the connection is closed, which ends its read.
func (ss *session) kick() { _ = ss.conn.Close() }

func (ss *session) run() {
	buf := make([]byte, 4096)
	for !ss.closed {
		if !ss.srv.armRead(ss.ctx, ss.conn, ss.deadline()) {
			return
		}
		n, err := ss.conn.Read(buf)
		if n > 0 {
			ss.split.Feed(buf[:n], ss.frame)
		}
		if err != nil {
			ss.ended(err)
			return
		}
	}
	ss.ended(nil)
}

// deadline is when the connection is closed unless a valid frame (or, before authentication,
// the authentication) comes first: garbage does not move it.
func (ss *session) deadline() time.Time {
	d := ss.lastValid.Add(ss.srv.cfg.IdleTimeout)
	if !ss.authed {
		if a := ss.opened.Add(ss.srv.cfg.AuthTimeout); a.Before(d) {
			d = a
		}
	}
	return d
}

// ended logs why the connection ends: at INFO for an authenticated terminal, rate-limited per
// source address otherwise.
func (ss *session) ended(err error) {
	s := ss.srv
	if s.stopping(ss.ctx) {
		return
	}
	why := "closed by the terminal"
	var ne net.Error
	switch {
	case ss.closed:
		why = "closed by the gateway"
	case errors.As(err, &ne) && ne.Timeout():
		if !ss.authed && !time.Now().Before(ss.opened.Add(s.cfg.AuthTimeout)) {
			why = "not authenticated within " + s.cfg.AuthTimeout.String()
			s.authTimeouts.Add(1)
		} else {
			why = "no valid frame for " + s.cfg.IdleTimeout.String()
			s.idleTimeouts.Add(1)
		}
	case errors.Is(err, net.ErrClosed):
		why = "closed by the gateway"
	case err != nil && !errors.Is(err, io.EOF):
		why = err.Error()
	}
	if ss.authed {
		ss.log.Info("jt808 terminal disconnected", "reason", why, "connected_for", time.Since(ss.opened).Round(time.Second).String())
		return
	}
	// Connections that never authenticated (scanners, misconfigured devices) are logged at
	// DEBUG, except the authentication deadline, which an operator may need to see.
	level := slog.LevelDebug
	if strings.HasPrefix(why, "not authenticated") {
		level = slog.LevelInfo
	}
	ss.warn(level, "jt808 connection closed", "reason", why, "terminal", ss.terminalID)
}

// warn logs at level, at most as often as the per-source log limit allows.
func (ss *session) warn(level slog.Level, msg string, args ...any) {
	if !ss.log.Enabled(context.Background(), level) {
		return
	}
	if !ss.srv.lim.log(ss.ip) {
		ss.srv.logsSuppressed.Add(1)
		return
	}
	ss.log.Log(context.Background(), level, msg, args...)
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
			ss.warn(slog.LevelWarn, "jt808 closing connection after consecutive bad frames", "terminal", ss.terminalID, "count", ss.bad)
			ss.closed = true
			return
		}
		if ss.bad == 1 {
			ss.warn(slog.LevelInfo, "jt808 bad frame", "terminal", ss.terminalID, "err", err)
		}
		if readable && f.Header.MsgID != jt808.MsgTerminalResponse {
			ss.reply(jt808.GeneralResponse(f.Header, ss.next(), jt808.ResultBadMessage))
		}
		return
	}
	s.framesOK.Add(1)
	ss.bad = 0
	ss.lastValid = time.Now()
	h := f.Header
	if h.MsgID == jt808.MsgTerminalResponse {
		return
	}
	if h.Encryption != 0 {
		ss.general(h, jt808.ResultUnsupported)
		return
	}
	if h.Subpackaged && !ss.reassemble(h) {
		return
	}
	msg, done, err := ss.reasm.Add(f, time.Now())
	switch {
	case errors.Is(err, jt808.ErrLimit):
		s.reassemblyRefused.Add(1)
		ss.warn(slog.LevelWarn, "jt808 subpackage refused: reassembly limit", "terminal", ss.terminalID, "msg_id", h.MsgID,
			"total", h.Total, "budget_used", s.budget.Used())
		ss.general(h, jt808.ResultFailure)
		return
	case err != nil:
		ss.general(h, jt808.ResultBadMessage)
		return
	case !done:
		ss.general(h, jt808.ResultOK) // packet received; the message is answered when complete
		return
	}
	ss.dispatch(msg)
}

// reassemble reports whether a packet of a subpackaged message may be held: only for the
// authenticated terminal, and only for messages the gateway handles. Otherwise it answers it
// (result 1 before authentication, 3 for an unsupported message).
func (ss *session) reassemble(h jt808.Header) bool {
	switch h.MsgID {
	case jt808.MsgLocation, jt808.MsgBatchLocation, jt808.MsgCANData:
	default:
		ss.general(h, jt808.ResultUnsupported)
		return false
	}
	if tid, ok := h.TerminalID(); !ss.authed || !ok || tid != ss.terminalID {
		ss.srv.reassemblyRefused.Add(1)
		ss.srv.reportsRejected.Add(1)
		ss.general(h, jt808.ResultFailure)
		return false
	}
	return true
}

func (ss *session) dispatch(m jt808.Frame) {
	h := m.Header
	switch h.MsgID {
	case jt808.MsgHeartbeat:
		ss.general(h, jt808.ResultOK)
	case jt808.MsgDeregister:
		ss.deregister(h)
	case jt808.MsgQueryTime:
		t := time.Now().UTC()
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

// callCtx bounds a Terminals/Publisher call. It does not end with the server's context, so a
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
	_ = ss.conn.SetWriteDeadline(time.Now().Add(WriteTimeout))
	if _, err := ss.conn.Write(b); err != nil {
		ss.log.Debug("jt808 write", "err", err)
		ss.closed = true
	}
}
