package gateway

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/jt808"
	"github.com/corridor-dev/corridor/pkg/jt808/jt808test"
)

// Registration hands out a random auth code once; a registered terminal, like an unknown one,
// gets result 3 until the registration is reset; the code survives a restart (it is stored).
func TestRegistration(t *testing.T) {
	fx := start(t, Config{Limits: Limits{AttemptsPerTerminal: Limit{Every: time.Second, Burst: 20}}})
	stranger := jt808test.Dial(t, fx.addr, jt808.V2013, "015500000000")
	if result, code := stranger.Register(); result != jt808.RegisterTerminalRegistered || code != "" {
		t.Fatalf("unknown terminal: result %d code %q, want 3 and no code", result, code)
	}

	tm := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	result, code := tm.Register()
	if result != jt808.RegisterOK || len(code) != 24 {
		t.Fatalf("register: result %d code %q", result, code)
	}
	if h := fx.veh.reg["13812345678"]; string(h) == code || string(h) != string(HashAuthCode(code)) {
		t.Fatalf("stored %x, want the SHA-256 of the code", h)
	}
	// A second registration, from anyone, is refused with the same answer as an unknown terminal.
	other := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	if result, c := other.Register(); result != jt808.RegisterTerminalRegistered || c != "" {
		t.Fatalf("second registration: result %d code %q, want 3", result, c)
	}
	if result, _ := tm.Register(); result != jt808.RegisterTerminalRegistered {
		t.Fatalf("re-registration on the same connection: result %d, want 3", result)
	}
	// The code does not authenticate another registered terminal.
	code2 := fx.veh.code(t, "13900000001")
	third := jt808test.Dial(t, fx.addr, jt808.V2013, "013900000001")
	s := third.Send(jt808.MsgAuth, []byte(code))
	third.ExpectGeneral(s, jt808.MsgAuth, jt808.ResultFailure)
	third.Auth(code2)
	// Nor does an unregistered terminal authenticate with anything.
	s = stranger.Send(jt808.MsgAuth, []byte(code))
	stranger.ExpectGeneral(s, jt808.MsgAuth, jt808.ResultFailure)

	// The stored registration survives a restart.
	fx2 := start(t, Config{})
	fx2.veh.reg = fx.veh.reg
	tm2 := jt808test.Dial(t, fx2.addr, jt808.V2013, "013812345678")
	tm2.Auth(code)

	// After an admin reset the terminal registers again, with a new code; the old one fails.
	fx.veh.set(func(v *terminals) { delete(v.reg, "13812345678") })
	result, newCode := tm.Register()
	if result != jt808.RegisterOK || newCode == code {
		t.Fatalf("after reset: result %d code %q (old %q)", result, newCode, code)
	}
	s = tm.Send(jt808.MsgAuth, []byte(code))
	tm.ExpectGeneral(s, jt808.MsgAuth, jt808.ResultFailure)
	tm.Auth(newCode)

	// Store outage: registration answered 0x8001 result 1 (retry later).
	fx.veh.set(func(v *terminals) { v.err = errors.New("database down") })
	s = stranger.Send(jt808.MsgRegister, make([]byte, 40))
	stranger.ExpectGeneral(s, jt808.MsgRegister, jt808.ResultFailure)
	if st := fx.srv.Stats(); st.Registrations != 2 || st.RegistrationsRefused != 3 || st.AuthFailed != 3 {
		t.Errorf("stats %+v", st)
	}
}

// Registration and authentication attempts are rate-limited per terminal and per address.
func TestAttemptRateLimits(t *testing.T) {
	fx := start(t, Config{Limits: Limits{AttemptsPerTerminal: Limit{Every: time.Hour, Burst: 3}}})
	code := fx.veh.code(t, "13812345678")
	tm := jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	for range 3 {
		s := tm.Send(jt808.MsgAuth, []byte("guess"))
		tm.ExpectGeneral(s, jt808.MsgAuth, jt808.ResultFailure)
	}
	// The right code, once the terminal's attempts are spent, is refused too.
	s := tm.Send(jt808.MsgAuth, []byte(code))
	tm.ExpectGeneral(s, jt808.MsgAuth, jt808.ResultFailure)
	s = tm.Send(jt808.MsgRegister, make([]byte, 40))
	tm.ExpectGeneral(s, jt808.MsgRegister, jt808.ResultFailure) // limited: 0x8001, not 0x8100
	// Another terminal from the same address is not affected.
	other := jt808test.Dial(t, fx.addr, jt808.V2013, "013900000001")
	other.Auth(fx.veh.code(t, "13900000001"))
	if st := fx.srv.Stats(); st.AttemptsLimited != 2 || st.AuthFailed != 3 {
		t.Errorf("stats %+v", st)
	}

	fx = start(t, Config{Limits: Limits{AttemptsPerIP: Limit{Every: time.Hour, Burst: 2}}})
	tm = jt808test.Dial(t, fx.addr, jt808.V2013, "013812345678")
	for i, phone := range []string{"013812345678", "013900000001", "017299841738"} {
		tm.Header.Phone = phone
		s := tm.Send(jt808.MsgRegister, make([]byte, 40))
		f := tm.Recv()
		if limited := f.Header.MsgID == jt808.MsgPlatformResponse; limited != (i == 2) || binary.BigEndian.Uint16(f.Body) != s {
			t.Errorf("attempt %d from one address: answer %#04x %x", i, f.Header.MsgID, f.Body)
		}
	}
}
