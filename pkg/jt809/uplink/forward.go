package uplink

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/corridor-dev/corridor/pkg/jt808"
	"github.com/corridor-dev/corridor/pkg/jt809"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Store is the uplink's storage (*postgres.DB). Lookups return tracking.ENOTFOUND for unknown ids.
type Store interface {
	UplinkCursor(ctx context.Context, stream string) (uint64, bool, error)
	SetUplinkCursor(ctx context.Context, stream string, seq uint64) error
	UplinkVehicle(ctx context.Context, id string, since time.Time) (tracking.UplinkVehicle, error)
	InfoIDFor(ctx context.Context, alarmID, vehicleID string, warnType uint16, warnTime time.Time) (tracking.AlarmReport, error)
	RecordAlarmReport(ctx context.Context, alarmID, vehicleID string, warnType uint16, warnTime time.Time, msgSN *uint32) (tracking.AlarmReport, error)
	AlarmReportByAlarm(ctx context.Context, alarmID string) (tracking.AlarmReport, error)
	FindAlarmReport(ctx context.Context, msgSN *uint32, plate string, warnType uint16, warnTime time.Time) (tracking.AlarmReport, error)
	SetReportResult(ctx context.Context, alarmID string, result int) error
	GetAlarm(ctx context.Context, id string) (tracking.Alarm, error)
	CreateSupervision(ctx context.Context, n tracking.NewSupervision) (tracking.Supervision, error)
	AlarmSupervisions(ctx context.Context, alarmID string) ([]tracking.Supervision, error)
	AnswerSupervision(ctx context.Context, id string, result int) (tracking.Supervision, error)
	DueSupervisions(ctx context.Context, now time.Time, frac float64) ([]tracking.Supervision, error)
	MarkSupervisionEscalated(ctx context.Context, id string) (bool, error)
	CreateDutyCheck(ctx context.Context, n tracking.NewDutyCheck) (tracking.DutyCheck, error)
	UnsentDutyAnswers(ctx context.Context) ([]tracking.UnsentDutyAnswer, error)
	MarkDutyAnswerSent(ctx context.Context, id string) error
}

// Publisher publishes the uplink's events: escalations on ALARMS, supervision changes live.
type Publisher interface {
	PublishAlarmEvent(ctx context.Context, subject, msgID string, payload []byte) error
	PublishSupervision(e tracking.SupervisionEvent) error
}

// ForwarderConfig tunes the forwarding.
type ForwarderConfig struct {
	// HistoryAfter: a fix older than this at send time goes up as 0x1203 back-fill (default 2 min).
	HistoryAfter time.Duration
	// BackfillRate limits 0x1203 frames per second (default 20, i.e. up to 100 fixes/s).
	BackfillRate float64
	// Batch is how many stream messages are read at once (default 200).
	Batch int
	// EscalateAt is the share of a supervision's time after which an unresolved alarm escalates (0.8).
	EscalateAt float64
	// Poll is the interval of the duty-answer and escalation checks (default 1 s).
	Poll time.Duration
	// PlatformID is the 11-byte platform id written in 2019 bodies (may be empty).
	PlatformID string
	Log        *slog.Logger
	Now        func() time.Time
}

// Forwarder moves positions and alarms up the link and handles the regulator's requests.
type Forwarder struct {
	link  *Link
	js    jetstream.JetStream
	store Store
	pub   Publisher
	cfg   ForwarderConfig
	lim   *rate.Limiter

	mu       sync.Mutex
	vehicles map[string]cachedVehicle
	lastTS   map[string]time.Time
	sent     map[uint64]struct{} // TELEMETRY sequences sent since the cursor was stored

	Stats ForwardStats
}

// ForwardStats are counters for /metrics.
type ForwardStats struct {
	RealTime, BackFill, BackFillFrames, Skipped, Alarms, Results, Supervisions, DutyChecks, Escalations atomic.Uint64
	Lag                                                                                                 atomic.Int64 // messages between the cursor and the end of TELEMETRY at the last read
}

type cachedVehicle struct {
	v   tracking.UplinkVehicle
	err error
	at  time.Time
}

const vehicleTTL = 30 * time.Second

// Stream cursors.
const (
	CursorTelemetry = "TELEMETRY"
	CursorAlarms    = "ALARMS"
)

// NewForwarder wires a forwarder to the link (it becomes the link's down handler).
func NewForwarder(link *Link, js jetstream.JetStream, store Store, pub Publisher, cfg ForwarderConfig) *Forwarder {
	if cfg.HistoryAfter <= 0 {
		cfg.HistoryAfter = 2 * time.Minute
	}
	if cfg.BackfillRate <= 0 {
		cfg.BackfillRate = 20
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	if cfg.EscalateAt <= 0 || cfg.EscalateAt > 1 {
		cfg.EscalateAt = 0.8
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Forwarder{link: link, js: js, store: store, pub: pub, cfg: cfg,
		lim:      rate.NewLimiter(rate.Limit(cfg.BackfillRate), 5),
		vehicles: map[string]cachedVehicle{}, lastTS: map[string]time.Time{}, sent: map[uint64]struct{}{}}
	link.SetHandler(f)
	return f
}

// Run forwards until ctx ends.
func (f *Forwarder) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); f.follow(ctx, CursorTelemetry, "telemetry.>", f.positions) }()
	go func() { defer wg.Done(); f.follow(ctx, CursorAlarms, "alarms.>", f.alarms) }()
	go func() { defer wg.Done(); f.poll(ctx) }()
	wg.Wait()
	return nil
}

// follow reads stream from the stored cursor while a link is up, hands batches to handle and
// stores the sequence up to which everything was sent (or skipped). The first run starts at the
// stream's end: history from before the uplink existed is not sent.
func (f *Forwarder) follow(ctx context.Context, stream, filter string, handle func(ctx context.Context, msgs []jetstream.Msg) (uint64, error)) {
	log := f.cfg.Log.With("stream", stream)
	pause := func() {
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-f.link.Up():
		}
		seq, ok, err := f.store.UplinkCursor(ctx, stream)
		if err == nil && !ok {
			var s jetstream.Stream
			if s, err = f.js.Stream(ctx, stream); err == nil {
				seq = s.CachedInfo().State.LastSeq
				err = f.store.SetUplinkCursor(ctx, stream, seq)
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				log.Error("JT/T 809 uplink: cannot read its stream cursor; retrying", "err", err)
				pause()
			}
			continue
		}
		cons, err := f.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter},
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: seq + 1})
		if err != nil {
			if ctx.Err() == nil {
				log.Error("JT/T 809 uplink: cannot read the stream; retrying", "err", err)
				pause()
			}
			continue
		}
		for ctx.Err() == nil {
			if up, _, slaveUp, _ := f.link.State(); !up && !slaveUp {
				break
			}
			batch, err := cons.Fetch(f.cfg.Batch, jetstream.FetchMaxWait(300*time.Millisecond))
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("JT/T 809 uplink: fetch failed", "err", err)
					pause()
				}
				break
			}
			var msgs []jetstream.Msg
			for m := range batch.Messages() {
				msgs = append(msgs, m)
			}
			if len(msgs) == 0 {
				continue
			}
			if stream == CursorTelemetry {
				if md, err := msgs[len(msgs)-1].Metadata(); err == nil {
					f.Stats.Lag.Store(int64(md.NumPending))
				}
			}
			last, herr := handle(ctx, msgs)
			if last > seq {
				if err := f.store.SetUplinkCursor(context.WithoutCancel(ctx), stream, last); err != nil {
					log.Error("JT/T 809 uplink: cannot store its stream cursor", "err", err)
				} else {
					seq = last
					if stream == CursorTelemetry {
						f.forgetSent(seq)
					}
				}
			}
			if herr != nil {
				if ctx.Err() == nil {
					log.Warn("JT/T 809 uplink: forwarding paused", "err", herr)
					if !errors.Is(herr, ErrDown) {
						pause()
					}
				}
				break // re-create the consumer from the stored cursor
			}
		}
	}
}

func (f *Forwarder) forgetSent(upTo uint64) {
	f.mu.Lock()
	for s := range f.sent {
		if s <= upTo {
			delete(f.sent, s)
		}
	}
	f.mu.Unlock()
}

func (f *Forwarder) vehicle(ctx context.Context, id string, now time.Time) (tracking.UplinkVehicle, error) {
	f.mu.Lock()
	c, ok := f.vehicles[id]
	f.mu.Unlock()
	if ok && now.Sub(c.at) < vehicleTTL {
		return c.v, c.err
	}
	v, err := f.store.UplinkVehicle(ctx, id, now.Add(-8*24*time.Hour))
	if err != nil && tracking.ErrorCode(err) != tracking.ENOTFOUND {
		return v, err // not cached: a database problem is retried
	}
	f.mu.Lock()
	f.vehicles[id] = cachedVehicle{v: v, err: err, at: now}
	f.mu.Unlock()
	return v, err
}

// item is one fix to send and the stream sequence it came from.
type item struct {
	seq     uint64
	vehicle string
	g       jt809.GNSS
}

// positions forwards a batch of TELEMETRY messages: fixes of vehicles on an active trip go up,
// recent ones as 0x1202, older ones (what the platform missed) as 0x1203 in groups of up to 5
// per vehicle, in order. It returns the sequence up to which everything was sent or skipped.
func (f *Forwarder) positions(ctx context.Context, msgs []jetstream.Msg) (uint64, error) {
	now := f.cfg.Now()
	type hist struct {
		wr    jt809.VehicleMsg
		items []item
	}
	var order []string
	pending := map[string]*hist{}
	var last uint64
	batchSeen := map[string]bool{} // (vehicle, ts) seen in this batch: a duplicate within it is sent once
	minUnsent := uint64(math.MaxUint64)
	fail := func(err error) (uint64, error) {
		for _, h := range pending {
			for _, it := range h.items {
				minUnsent = min(minUnsent, it.seq)
			}
		}
		if minUnsent == math.MaxUint64 {
			return last, err
		}
		return minUnsent - 1, err
	}
	flush := func(id string) error {
		h := pending[id]
		if h == nil || len(h.items) == 0 {
			return nil
		}
		gs := make([]jt809.GNSS, len(h.items))
		for i, it := range h.items {
			gs[i] = it.g
		}
		data, err := jt809.HistoryLocation{GNSS: gs}.Marshal(f.link.Version())
		if err != nil {
			return err
		}
		if err := f.lim.Wait(ctx); err != nil {
			return err
		}
		h.wr.Data = data
		if _, err := f.link.Send(jt809.MsgUpExg, h.wr.Marshal()); err != nil {
			return err
		}
		f.markSent(h.items)
		f.Stats.BackFill.Add(uint64(len(h.items)))
		f.Stats.BackFillFrames.Add(1)
		h.items = h.items[:0]
		return nil
	}
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		seq := md.Sequence.Stream
		if f.wasSent(seq) {
			last = seq
			continue
		}
		p, err := tracking.DecodePosition(m.Data(), now)
		if err != nil {
			f.Stats.Skipped.Add(1)
			last = seq
			continue
		}
		v, err := f.vehicle(ctx, p.VehicleID, now)
		if err != nil {
			if tracking.ErrorCode(err) != tracking.ENOTFOUND {
				return fail(err)
			}
			f.Stats.Skipped.Add(1)
			last = seq
			continue
		}
		if !v.OnTrip(p.TS) && now.Sub(f.cachedAt(p.VehicleID)) > tripRecheck {
			// A trip created since the vehicle was cached counts at once, not after the cache expires.
			f.forgetVehicle(p.VehicleID)
			if v, err = f.vehicle(ctx, p.VehicleID, now); err != nil && tracking.ErrorCode(err) != tracking.ENOTFOUND {
				return fail(err)
			}
		}
		key := p.VehicleID + "\x00" + p.TS.String()
		f.mu.Lock()
		dup := f.lastTS[p.VehicleID].Equal(p.TS) || batchSeen[key]
		f.mu.Unlock()
		batchSeen[key] = true
		if dup || (p.CarrierID != "" && p.CarrierID != v.CarrierID) || !v.OnTrip(p.TS) {
			f.Stats.Skipped.Add(1)
			last = seq
			continue
		}
		g := gnss(p)
		wr := jt809.VehicleMsg{Plate: v.Plate, Color: uint8(v.PlateColor)}
		if now.Sub(p.TS) > f.cfg.HistoryAfter {
			h := pending[v.ID]
			if h == nil {
				wr.DataType = jt809.DataHistoryLocation
				h = &hist{wr: wr}
				pending[v.ID] = h
				order = append(order, v.ID)
			}
			h.items = append(h.items, item{seq: seq, vehicle: v.ID, g: g})
			if len(h.items) == jt809.MaxHistory {
				if err := flush(v.ID); err != nil {
					return fail(err)
				}
			}
			last = seq
			continue
		}
		// A real-time fix: the vehicle's older fixes go first.
		if err := flush(v.ID); err != nil {
			minUnsent = min(minUnsent, seq)
			return fail(err)
		}
		wr.DataType = jt809.DataRealLocation
		wr.Data = jt809.RealLocation{GNSS: g}.Marshal(f.link.Version())
		if _, err := f.link.Send(jt809.MsgUpExg, wr.Marshal()); err != nil {
			minUnsent = min(minUnsent, seq)
			return fail(err)
		}
		f.markSent([]item{{seq: seq, vehicle: v.ID, g: g}})
		f.Stats.RealTime.Add(1)
		last = seq
	}
	for _, id := range order {
		if err := flush(id); err != nil {
			return fail(err)
		}
	}
	return last, nil
}

func (f *Forwarder) wasSent(seq uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.sent[seq]
	return ok
}

// markSent remembers what was written: the sequences (skipped if the batch is read again after a
// failure) and each vehicle's latest fix time sent (a duplicate fix is not sent again).
func (f *Forwarder) markSent(items []item) {
	f.mu.Lock()
	for _, it := range items {
		f.sent[it.seq] = struct{}{}
		if it.g.Time.After(f.lastTS[it.vehicle]) {
			f.lastTS[it.vehicle] = it.g.Time
		}
	}
	f.mu.Unlock()
}

const tripRecheck = 2 * time.Second

func (f *Forwarder) cachedAt(id string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.vehicles[id].at
}

func (f *Forwarder) forgetVehicle(id string) {
	f.mu.Lock()
	delete(f.vehicles, id)
	f.mu.Unlock()
}

// alarmBits maps JT/T 808 alarm names (device_alarms) back to their bits.
var alarmBits = func() map[string]uint32 {
	m := map[string]uint32{}
	for bit := 31; bit >= 0; bit-- {
		if n := jt808.AlarmName(bit, jt808.V2013); n != "" {
			m[n] = 1 << bit
		}
	}
	return m
}()

// gnss converts a position to the JT/T 809 position fields.
func gnss(p tracking.Position) jt809.GNSS {
	g := jt809.GNSS{Time: p.TS, Lat: p.Lat, Lon: p.Lon, State: 1 << 1} // bit 1: positioned
	if p.SpeedKmh != nil {
		g.SpeedKmh = *p.SpeedKmh
	}
	if p.HeadingDeg != nil {
		g.Direction = uint16(math.Round(*p.HeadingDeg)) % 360
	}
	if p.AltitudeM != nil && *p.AltitudeM > 0 {
		g.AltitudeM = uint16(min(*p.AltitudeM, 65535))
	}
	if p.OdometerKm != nil && *p.OdometerKm > 0 {
		g.MileageKm = uint32(min(*p.OdometerKm, 4e9))
	}
	if p.Ignition != nil && *p.Ignition {
		g.State |= 1 // bit 0: ACC on
	}
	for _, a := range p.DeviceAlarms {
		g.Alarm |= alarmBits[a]
	}
	return g
}
