package rules

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the scenarios' output")

// A scenario file (testdata/*.txt) describes one vehicle's fixes and ticks; running it prints
// every alarm change. Lines (# starts a comment):
//
//	config clear_fixes=2 deviation_confirm_fixes=3 overspeed_confirm_fixes=3 max_speed=80
//	       offline_after=5m stop_after=15m fatigue_drive=4h fatigue_rest=20m timezone=Asia/Shanghai
//	start 2026-03-02T08:00:00+08:00          base date and zone of HH:MM times
//	trip T1 corridor=C1 buffer=50 [max_speed=60] from=08:00 to=12:00
//	zone Z1 restricted|parking|terminal [hours=22:00-06:00]
//	fix 08:01[:SS][+1d] [pos=lat,lon] [speed=N] [dist=N] [zones=Z1,P1] [alarms=a,b] [recv=TIME|+30s] [implausible]
//	fixes 06:00-10:00 every=5m [same keys as fix]   one fix every 5m from 06:00 to 10:00 inclusive
//	tick TIME                                Tick at server time TIME with the trip active then
//	cancel T1                                the trip is cancelled from now on
//	show                                     print the active alarms and offline status
//
// A TIME is HH:MM[:SS] on the start date in its zone, optionally +Nd days later, or RFC 3339.
// The trip of a fix is the one active at its ts. recv defaults to the fix's ts; pos to the
// previous fix's (30,107 at first). The output echoes each line that changed something, followed
// by its changes, indented (for a "fixes" line, with "@ts" of the fix that caused them).
type scenario struct {
	name   string
	cfg    Config
	base   time.Time
	trips  []*scenarioTrip
	zones  map[string]ZoneHit
	events []event
}

type scenarioTrip struct {
	Trip
	cancelled bool
}

type event struct {
	line   int
	text   string
	verb   string // fix, tick, cancel, show
	in     Input
	now    time.Time
	tripID string
}

func parseTime(base time.Time, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	days := 0
	if i := strings.Index(s, "+"); i >= 0 {
		d, ok := strings.CutSuffix(s[i+1:], "d")
		n, err := strconv.Atoi(d)
		if !ok || err != nil {
			return time.Time{}, fmt.Errorf("bad day offset in %q", s)
		}
		days, s = n, s[:i]
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return time.Time{}, fmt.Errorf("bad time %q", s)
	}
	var hms [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return time.Time{}, fmt.Errorf("bad time %q", s)
		}
		hms[i] = n
	}
	y, m, d := base.Date()
	return time.Date(y, m, d+days, hms[0], hms[1], hms[2], 0, base.Location()), nil
}

func fmtTime(base, t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	t = t.In(base.Location())
	y, m, d := base.Date()
	day0 := time.Date(y, m, d, 0, 0, 0, 0, base.Location())
	days := int(t.Sub(day0).Hours()) / 24
	if t.Before(day0) {
		return t.Format(time.RFC3339)
	}
	s := t.Format("15:04:05")
	if days > 0 {
		s += fmt.Sprintf("+%dd", days)
	}
	return s
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func parseScenario(name string, data []byte) (*scenario, error) {
	sc := &scenario{name: name, cfg: DefaultConfig(), zones: map[string]ZoneHit{}}
	sc.base = time.Date(2026, 3, 2, 0, 0, 0, 0, time.FixedZone("+08:00", 8*3600))
	lastPos := [2]float64{30, 107}
	for n, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if i := strings.Index(line, "#"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		fields := strings.Fields(line)
		errf := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", name, n+1, fmt.Sprintf(format, a...))
		}
		kv := map[string]string{}
		var flags []string
		for _, f := range fields[1:] {
			if k, v, ok := strings.Cut(f, "="); ok {
				kv[k] = v
			} else {
				flags = append(flags, f)
			}
		}
		num := func(k string) (float64, error) {
			f, err := strconv.ParseFloat(kv[k], 64)
			if err != nil {
				return 0, errf("%s: %v", k, err)
			}
			return f, nil
		}
		tm := func(s string) (time.Time, error) {
			t, err := parseTime(sc.base, s)
			if err != nil {
				return t, errf("%v", err)
			}
			return t, nil
		}
		switch verb := fields[0]; verb {
		case "config":
			env := map[string]string{}
			names := map[string]string{"deviation_confirm_fixes": EnvDeviationConfirmFixes, "clear_fixes": EnvClearFixes,
				"overspeed_confirm_fixes": EnvOverspeedConfirmFixes, "max_speed": EnvDefaultMaxSpeedKmh,
				"offline_after": EnvOfflineAfter, "stop_after": EnvStopAfter, "fatigue_drive": EnvFatigueDrive,
				"fatigue_rest": EnvFatigueRest, "timezone": EnvTimezone}
			for k, v := range kv {
				e, ok := names[k]
				if !ok {
					return nil, errf("unknown config key %q", k)
				}
				env[e] = v
			}
			cfg, err := ConfigFromEnv(func(k string) string { return env[k] })
			if err != nil {
				return nil, errf("%v", err)
			}
			sc.cfg = cfg
		case "start":
			if len(fields) != 2 {
				return nil, errf("start wants one RFC 3339 time")
			}
			t, err := time.Parse(time.RFC3339, fields[1])
			if err != nil {
				return nil, errf("%v", err)
			}
			sc.base = t
		case "trip":
			if len(flags) != 1 {
				return nil, errf("trip wants an id")
			}
			tr := &scenarioTrip{Trip: Trip{ID: flags[0], CorridorID: kv["corridor"]}}
			var err error
			if tr.BufferM, err = num("buffer"); err != nil {
				return nil, err
			}
			if _, ok := kv["max_speed"]; ok {
				if tr.MaxSpeedKmh, err = num("max_speed"); err != nil {
					return nil, err
				}
			}
			if tr.StartsAt, err = tm(kv["from"]); err != nil {
				return nil, err
			}
			if tr.EndsAt, err = tm(kv["to"]); err != nil {
				return nil, err
			}
			sc.trips = append(sc.trips, tr)
		case "zone":
			if len(flags) != 2 {
				return nil, errf("zone wants an id and a kind")
			}
			z := ZoneHit{ID: flags[0], Kind: flags[1]}
			if h, ok := kv["hours"]; ok {
				from, to, ok := strings.Cut(h, "-")
				if !ok {
					return nil, errf("hours=FROM-TO")
				}
				z.ActiveHours = &tracking.ActiveHours{From: from, To: to}
			}
			sc.zones[z.ID] = z
		case "fix", "fixes":
			if len(flags) < 1 {
				return nil, errf("%s wants a time", verb)
			}
			var from, to time.Time
			var every time.Duration
			var err error
			if verb == "fix" {
				if from, err = tm(flags[0]); err != nil {
					return nil, err
				}
				to, every = from, time.Second
			} else {
				a, b, ok := strings.Cut(flags[0], "-")
				if !ok {
					return nil, errf("fixes FROM-TO every=DUR")
				}
				if from, err = tm(a); err != nil {
					return nil, err
				}
				if to, err = tm(b); err != nil {
					return nil, err
				}
				if every, err = time.ParseDuration(kv["every"]); err != nil || every <= 0 {
					return nil, errf("fixes wants every=DUR")
				}
				delete(kv, "every")
			}
			ts := from
			ev := event{line: n + 1, text: line, verb: "fix"}
			ev.in.Fix.TS = ts
			ev.in.ReceivedAt = ts
			for _, f := range flags[1:] {
				if f != "implausible" {
					return nil, errf("unknown flag %q", f)
				}
				ev.in.Fix.Implausible = true
			}
			for k, v := range kv {
				switch k {
				case "pos":
					a, b, _ := strings.Cut(v, ",")
					lat, err1 := strconv.ParseFloat(a, 64)
					lon, err2 := strconv.ParseFloat(b, 64)
					if err1 != nil || err2 != nil {
						return nil, errf("pos=lat,lon")
					}
					lastPos = [2]float64{lat, lon}
				case "speed":
					s, err := num(k)
					if err != nil {
						return nil, err
					}
					ev.in.Fix.SpeedKmh = &s
				case "dist":
					if ev.in.DistanceM, err = num(k); err != nil {
						return nil, err
					}
				case "zones":
					for id := range strings.SplitSeq(v, ",") {
						z, ok := sc.zones[id]
						if !ok {
							return nil, errf("unknown zone %q", id)
						}
						ev.in.Zones = append(ev.in.Zones, z)
					}
				case "alarms":
					ev.in.Fix.DeviceAlarms = strings.Split(v, ",")
				case "recv":
					if d, ok := strings.CutPrefix(v, "+"); ok {
						dd, err := time.ParseDuration(d)
						if err != nil {
							return nil, errf("recv: %v", err)
						}
						ev.in.ReceivedAt = ts.Add(dd)
					} else if ev.in.ReceivedAt, err = tm(v); err != nil {
						return nil, err
					}
				default:
					return nil, errf("unknown fix key %q", k)
				}
			}
			ev.in.Fix.Lat, ev.in.Fix.Lon = lastPos[0], lastPos[1]
			recvDelay := ev.in.ReceivedAt.Sub(ts)
			for ; !ts.After(to); ts = ts.Add(every) {
				e := ev
				e.in.Fix.TS, e.in.ReceivedAt = ts, ts.Add(recvDelay)
				if verb == "fixes" {
					e.text = line + " @" + fmtTime(sc.base, ts)
				}
				sc.events = append(sc.events, e)
			}
		case "tick":
			if len(fields) != 2 {
				return nil, errf("tick wants a time")
			}
			now, err := tm(fields[1])
			if err != nil {
				return nil, err
			}
			sc.events = append(sc.events, event{line: n + 1, text: line, verb: verb, now: now})
		case "cancel":
			if len(fields) != 2 {
				return nil, errf("cancel wants a trip id")
			}
			if !slices.ContainsFunc(sc.trips, func(t *scenarioTrip) bool { return t.ID == fields[1] }) {
				return nil, errf("unknown trip %q", fields[1])
			}
			sc.events = append(sc.events, event{line: n + 1, text: line, verb: verb, tripID: fields[1]})
		case "show":
			sc.events = append(sc.events, event{line: n + 1, text: line, verb: verb})
		default:
			return nil, errf("unknown directive %q", verb)
		}
	}
	return sc, nil
}

// Run modes: plain; roundtrip reloads the state from its JSON before every line (what a crash
// and restart does); duplicate evaluates every fix a second time and requires nothing to change.
const (
	modePlain     = "plain"
	modeRoundtrip = "roundtrip"
	modeDuplicate = "duplicate"
)

func mustJSON(t testing.TB, st State) []byte {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatalf("marshal state: %v", err)
	}
	return b
}

func roundtrip(t testing.TB, st State) State {
	t.Helper()
	var out State
	if err := json.Unmarshal(mustJSON(t, st), &out); err != nil {
		t.Fatalf("unmarshal state: %v", err)
	}
	return out
}

func formatChange(base time.Time, c Change) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", c.Event, c.Kind)
	if c.ZoneID != "" {
		fmt.Fprintf(&b, " zone=%s", c.ZoneID)
	}
	if c.DeviceAlarm != "" {
		fmt.Fprintf(&b, " alarm=%s", c.DeviceAlarm)
	}
	if c.TripID != "" {
		fmt.Fprintf(&b, " trip=%s corridor=%s", c.TripID, c.CorridorID)
	}
	fmt.Fprintf(&b, " started=%s at=%s", fmtTime(base, c.StartedAt), fmtTime(base, c.At))
	if c.NoPosition {
		b.WriteString(" pos=none")
	} else {
		fmt.Fprintf(&b, " pos=%s,%s", fmtFloat(c.Lat), fmtFloat(c.Lon))
	}
	if c.DistanceM != nil {
		fmt.Fprintf(&b, " dist=%s", fmtFloat(*c.DistanceM))
	}
	if c.SpeedKmh != nil {
		fmt.Fprintf(&b, " speed=%s", fmtFloat(*c.SpeedKmh))
	}
	return b.String()
}

func alarmKey(kind, key string) string { return kind + "/" + key }

func changeKey(c Change) string { return alarmKey(c.Kind, c.ZoneID+c.DeviceAlarm) }

// run executes the scenario and returns its transcript, checking on the way that changes and
// Active agree, that raises and clears alternate per key, and that Evaluate and Tick never
// modify the state passed in.
func (sc *scenario) run(t *testing.T, mode string) string {
	t.Helper()
	var out bytes.Buffer
	var st State
	active := map[string]bool{}
	for i := range sc.trips {
		sc.trips[i].cancelled = false
	}
	tripAt := func(ts time.Time) *Trip {
		for _, tr := range sc.trips {
			if !tr.cancelled && !ts.Before(tr.StartsAt) && ts.Before(tr.EndsAt) {
				trip := tr.Trip
				return &trip
			}
		}
		return nil
	}
	for _, ev := range sc.events {
		if mode == modeRoundtrip {
			st = roundtrip(t, st)
		}
		before := mustJSON(t, st)
		var changes []Change
		switch ev.verb {
		case "fix":
			in := ev.in
			in.Trip = tripAt(in.Fix.TS)
			old := st
			st, changes = Evaluate(sc.cfg, st, in)
			if !bytes.Equal(before, mustJSON(t, old)) {
				t.Fatalf("%s:%d: Evaluate modified the state passed in", sc.name, ev.line)
			}
			if mode == modeDuplicate {
				after := mustJSON(t, st)
				st2, again := Evaluate(sc.cfg, st, in)
				if len(again) != 0 || !bytes.Equal(after, mustJSON(t, st2)) {
					t.Fatalf("%s:%d: the duplicate fix changed something: %v", sc.name, ev.line, again)
				}
			}
		case "tick":
			old := st
			st, changes = Tick(sc.cfg, st, ev.now, tripAt(ev.now))
			if !bytes.Equal(before, mustJSON(t, old)) {
				t.Fatalf("%s:%d: Tick modified the state passed in", sc.name, ev.line)
			}
		case "cancel":
			for _, tr := range sc.trips {
				if tr.ID == ev.tripID {
					tr.cancelled = true
				}
			}
		}
		for _, c := range changes {
			k := changeKey(c)
			switch c.Event {
			case tracking.EventRaised:
				if active[k] {
					t.Errorf("%s:%d: %s raised twice", sc.name, ev.line, k)
				}
				active[k] = true
			case tracking.EventCleared:
				if !active[k] {
					t.Errorf("%s:%d: %s cleared but not raised", sc.name, ev.line, k)
				}
				delete(active, k)
				if c.At.Before(c.StartedAt) {
					t.Errorf("%s:%d: %s cleared before it started", sc.name, ev.line, k)
				}
			}
		}
		var got []string
		for _, a := range st.Active() {
			got = append(got, alarmKey(a.Kind, a.Key))
		}
		var want []string
		for k := range active {
			want = append(want, k)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:%d: Active() = %v, changes say %v", sc.name, ev.line, got, want)
		}
		if st.Offline() != active[alarmKey(tracking.AlarmSignalLost, "")] {
			t.Errorf("%s:%d: Offline() = %v disagrees with the changes", sc.name, ev.line, st.Offline())
		}
		if len(changes) == 0 && ev.verb != "show" {
			continue
		}
		fmt.Fprintf(&out, "%s\n", strings.Join(strings.Fields(ev.text), " "))
		for _, c := range changes {
			fmt.Fprintf(&out, "  %s\n", formatChange(sc.base, c))
		}
		if ev.verb == "show" {
			var names []string
			for _, a := range st.Active() {
				n := a.Kind
				if a.Key != "" {
					n += ":" + a.Key
				}
				names = append(names, n)
			}
			if len(names) == 0 {
				names = []string{"none"}
			}
			fmt.Fprintf(&out, "  active: %s; offline: %v; last fix: %s\n", strings.Join(names, ", "), st.Offline(), fmtTime(sc.base, st.LastTS()))
		}
	}
	return out.String()
}

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".txt")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := parseScenario(filepath.Base(file), data)
			if err != nil {
				t.Fatal(err)
			}
			got := sc.run(t, modePlain)
			for _, mode := range []string{modeRoundtrip, modeDuplicate} {
				if other := sc.run(t, mode); other != got {
					t.Errorf("mode %s gives a different transcript:\n%s\nplain:\n%s", mode, other, got)
				}
			}
			golden := strings.TrimSuffix(file, ".txt") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/rules -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("transcript differs from %s (go test ./pkg/rules -update rewrites it):\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}
