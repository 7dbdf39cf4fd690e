package escalate_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/internal/pgtest"
	"github.com/corridor-dev/corridor/pkg/escalate"
	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

func TestDue(t *testing.T) {
	now := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	after := 5 * time.Minute
	for _, c := range []struct {
		name            string
		severity, state string
		escalated       bool
		storedAgo       time.Duration
		want            bool
	}{
		{"critical open past the limit", "critical", "open", false, 6 * time.Minute, true},
		{"exactly at the limit", "critical", "open", false, 5 * time.Minute, true},
		{"not yet", "critical", "open", false, 5*time.Minute - time.Second, false},
		{"acknowledged", "critical", "acknowledged", false, time.Hour, false},
		{"resolved", "critical", "resolved", false, time.Hour, false},
		{"warning", "warning", "open", false, time.Hour, false},
		{"escalated already", "critical", "open", true, time.Hour, false},
		{"stored in the future (clock skew)", "critical", "open", false, -time.Minute, false},
	} {
		if got := escalate.Due(c.severity, c.state, c.escalated, now.Add(-c.storedAgo), now, after); got != c.want {
			t.Errorf("%s: Due = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestWait(t *testing.T) {
	now := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	after, maxWait := 5*time.Minute, 10*time.Second
	for _, c := range []struct {
		name      string
		oldestAgo time.Duration
		ok        bool
		want      time.Duration
	}{
		{"none: poll at the bound", 0, false, maxWait},
		{"due in 3 s", after - 3*time.Second, true, 3 * time.Second},
		{"due in 4 min: the bound", time.Minute, true, maxWait},
		{"overdue: at once", time.Hour, true, 0},
	} {
		if got := escalate.Wait(now.Add(-c.oldestAgo), c.ok, now, after, maxWait); got != c.want {
			t.Errorf("%s: Wait = %v, want %v", c.name, got, c.want)
		}
	}
}

// scenario is a database of alarms and a clock the test moves.
type scenario struct {
	t   *testing.T
	db  *postgres.DB
	now time.Time
	mu  sync.Mutex
}

func (s *scenario) clock() time.Time { s.mu.Lock(); defer s.mu.Unlock(); return s.now }

func (s *scenario) alarm(kind, state string, storedAgo time.Duration, escalated bool) string {
	s.t.Helper()
	var esc *time.Time
	if escalated {
		e := s.now.Add(-time.Minute)
		esc = &e
	}
	stored := s.now.Add(-storedAgo)
	var id string
	// Each alarm on its own vehicle: at most one active alarm per vehicle and kind.
	vehicle := "v" + time.Duration(storedAgo).String() + state + kind
	if _, err := s.db.Pool.Exec(context.Background(), `insert into vehicles (id, carrier_id, plate) values (left(md5($1), 20), 'c1', 'P')
		on conflict do nothing`, vehicle); err != nil {
		s.t.Fatal(err)
	}
	err := s.db.Pool.QueryRow(context.Background(), `insert into alarms (kind, severity, state, vehicle_id, carrier_id, device_alarm,
		started_at, raised_at, created_at, escalated_at) values ($1, $2, $3, left(md5($4), 20), 'c1',
		case when $1 = 'device_alarm' then 'emergency' end, $5, $5, $5, $6) returning id::text`,
		kind, tracking.Severity(kind), state, vehicle, stored, esc).Scan(&id)
	if err != nil {
		s.t.Fatal(err)
	}
	return id
}

func (s *scenario) get(id string) tracking.Alarm {
	s.t.Helper()
	a, err := s.db.GetAlarm(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return a
}

// outbox returns the escalated events stored, by alarm id.
func (s *scenario) outbox() map[string][]tracking.AlarmEvent {
	s.t.Helper()
	rows, err := s.db.Pool.Query(context.Background(), `select payload::text from alarm_events where event = 'escalated' order by id`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]tracking.AlarmEvent{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			s.t.Fatal(err)
		}
		var ev tracking.AlarmEvent
		if err := json.Unmarshal([]byte(p), &ev); err != nil {
			s.t.Fatal(err)
		}
		out[ev.Alarm.ID] = append(out[ev.Alarm.ID], ev)
	}
	return out
}

// TestEscalationScenario drives the loop with a passed-in clock over alarms in every state and
// checks that exactly the ones Due escalate, once, with their event stored for the outbox.
func TestEscalationScenario(t *testing.T) {
	s := &scenario{t: t, db: pgtest.New(t), now: time.Now().UTC().Truncate(time.Millisecond)}
	if _, err := s.db.Pool.Exec(context.Background(), `insert into carriers (id, name) values ('c1', 'C')`); err != nil {
		t.Fatal(err)
	}
	due := s.alarm("route_deviation", "open", 10*time.Minute, false)
	soon := s.alarm("signal_lost", "open", 2*time.Minute, false)
	acked := s.alarm("restricted_zone", "acknowledged", 10*time.Minute, false)
	warning := s.alarm("overspeed", "open", 10*time.Minute, false)
	resolved := s.alarm("device_alarm", "resolved", 10*time.Minute, false)
	already := s.alarm("route_deviation", "open", 20*time.Minute, true)
	cleared := s.alarm("device_alarm", "open", 6*time.Minute, false)
	if _, err := s.db.Pool.Exec(context.Background(), `update alarms set active = false, cleared_at = started_at where id = $1`, cleared); err != nil {
		t.Fatal(err)
	}

	e := escalate.New(escalate.Config{After: 5 * time.Minute, MaxWait: time.Hour, Now: s.clock}, s.db)
	n, wait, err := e.Step(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("first pass escalated %d (%v), want 2", n, err)
	}
	if wait != 3*time.Minute {
		t.Fatalf("wait %v, want 3m (until the next alarm falls due)", wait)
	}
	for _, id := range []string{due, cleared} {
		a := s.get(id)
		if a.EscalatedAt == nil || !a.EscalatedAt.Equal(s.now) || a.State != tracking.StateOpen {
			t.Fatalf("escalated alarm %+v", a)
		}
	}
	for _, id := range []string{soon, acked, warning, resolved} {
		if a := s.get(id); a.EscalatedAt != nil {
			t.Fatalf("alarm %s (%s, %s) escalated", id, a.Kind, a.State)
		}
	}
	// Idempotent: the same instant again escalates nothing.
	if n, _, err := e.Step(context.Background()); err != nil || n != 0 {
		t.Fatalf("second pass escalated %d (%v)", n, err)
	}
	// Acknowledged before its time: never escalates.
	if _, err := s.db.AckAlarm(context.Background(), soon, tracking.Actor{Name: "officer"}, nil); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.now = s.now.Add(4 * time.Minute)
	s.mu.Unlock()
	if n, wait, err := e.Step(context.Background()); err != nil || n != 0 || wait != time.Hour {
		t.Fatalf("after the ack: escalated %d, wait %v (%v)", n, wait, err)
	}
	ob := s.outbox()
	if len(ob) != 2 || len(ob[due]) != 1 || len(ob[cleared]) != 1 || len(ob[already]) != 0 {
		t.Fatalf("outbox %v", ob)
	}
	if ev := ob[due][0]; ev.Event != tracking.EventEscalated || ev.Reason != tracking.EscalationUnacknowledged ||
		ev.Alarm.EscalatedAt == nil || ev.Alarm.Kind != tracking.AlarmRouteDeviation {
		t.Fatalf("event %+v", ev)
	}
}

// TestEscalationConcurrent: two processes escalating at once still escalate each alarm once.
func TestEscalationConcurrent(t *testing.T) {
	s := &scenario{t: t, db: pgtest.New(t), now: time.Now().UTC().Truncate(time.Millisecond)}
	if _, err := s.db.Pool.Exec(context.Background(), `insert into carriers (id, name) values ('c1', 'C')`); err != nil {
		t.Fatal(err)
	}
	const n = 60
	for i := 0; i < n; i++ {
		s.alarm("route_deviation", "open", 10*time.Minute+time.Duration(i)*time.Second, false)
	}
	var wg sync.WaitGroup
	counts := make([]int, 4)
	for w := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := escalate.New(escalate.Config{After: 5 * time.Minute, Batch: 7, Now: s.clock}, s.db)
			c, _, err := e.Step(context.Background())
			if err != nil {
				t.Error(err)
			}
			counts[w] = c
		}()
	}
	wg.Wait()
	total := 0
	for _, c := range counts {
		total += c
	}
	ob := s.outbox()
	if total != n || len(ob) != n {
		t.Fatalf("escalated %d (per process %v), %d alarms in the outbox; want %d", total, counts, len(ob), n)
	}
	for id, evs := range ob {
		if len(evs) != 1 {
			t.Fatalf("alarm %s has %d escalated events", id, len(evs))
		}
	}
}
