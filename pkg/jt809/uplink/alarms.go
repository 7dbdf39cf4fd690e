package uplink

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/corridor-dev/corridor/pkg/jt809"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// WarnType maps an alarm to its JT/T 809 WARN_TYPE (STD11 table 75). Corridor kinds without a
// code of their own (signal_lost, unauthorized_stop, device alarms other than emergency,
// overspeed and fatigue) are 0x00FF "other", named in INFO_CONTENT.
func WarnType(a tracking.Alarm) uint16 {
	switch a.Kind {
	case tracking.AlarmRouteDeviation:
		return jt809.WarnRouteDeviation
	case tracking.AlarmOverspeed:
		return jt809.WarnOverspeed
	case tracking.AlarmFatigueDriving:
		return jt809.WarnFatigue
	case tracking.AlarmRestrictedZone:
		return jt809.WarnEnterArea
	case tracking.AlarmDevice:
		if a.DeviceAlarm != nil {
			switch *a.DeviceAlarm {
			case "emergency":
				return jt809.WarnEmergency
			case "overspeed":
				return jt809.WarnOverspeed
			case "fatigue":
				return jt809.WarnFatigue
			}
		}
	}
	return jt809.WarnOther
}

var kindText = map[string]string{
	tracking.AlarmRouteDeviation:   "偏离路线报警",
	tracking.AlarmRestrictedZone:   "进入禁行区域报警",
	tracking.AlarmOverspeed:        "超速报警",
	tracking.AlarmSignalLost:       "车辆信号丢失",
	tracking.AlarmUnauthorizedStop: "异常停车",
	tracking.AlarmFatigueDriving:   "疲劳驾驶报警",
	tracking.AlarmDevice:           "终端报警",
}

// content is the INFO_CONTENT of an alarm report: what, and the facts Corridor measured.
func content(a tracking.Alarm, cleared bool) string {
	s := kindText[a.Kind] + " (" + a.Kind
	if a.DeviceAlarm != nil {
		s += ": " + *a.DeviceAlarm
	}
	s += ")"
	if a.DistanceM != nil {
		s += fmt.Sprintf(" 偏离距离 %.0f m", *a.DistanceM)
	}
	if a.SpeedKmh != nil {
		s += fmt.Sprintf(" 速度 %.0f km/h", *a.SpeedKmh)
	}
	if a.Position != nil {
		s += fmt.Sprintf(" 位置 %.6f,%.6f", a.Position.Lon, a.Position.Lat)
	}
	if cleared {
		s = "报警解除: " + s
	}
	return s + " alarm " + a.ID
}

// DisposalResult maps a resolved alarm's disposal to the handling result code (0x1401/0x1403/
// 0x1412): handled → 1 done, no_action and false_alarm → 2 no action, later → 3 later; a
// resolution without a disposal is done.
func DisposalResult(disposal string) uint8 {
	switch disposal {
	case "no_action", "false_alarm":
		return jt809.ResultNoAction
	case "later":
		return jt809.ResultLater
	}
	return jt809.ResultDone
}

// alarmEvent is the ALARMS message, with issue 9's optional disposal of a resolved alarm.
type alarmEvent struct {
	Event string          `json:"event"`
	Alarm json.RawMessage `json:"alarm"`
}

// alarms forwards a batch of ALARMS messages: raised and cleared → 0x1402, resolved → the
// handling result and the 0x1401 answer of every supervision of the alarm.
func (f *Forwarder) alarms(ctx context.Context, msgs []jetstream.Msg) (uint64, error) {
	var last uint64
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			continue
		}
		var e alarmEvent
		var a tracking.Alarm
		var extra struct {
			Disposal *string `json:"disposal"`
		}
		if json.Unmarshal(m.Data(), &e) != nil || json.Unmarshal(e.Alarm, &a) != nil || a.ID == "" {
			f.cfg.Log.Warn("JT/T 809 uplink: undecodable alarm event skipped", "subject", m.Subject())
			last = md.Sequence.Stream
			continue
		}
		_ = json.Unmarshal(e.Alarm, &extra)
		switch e.Event {
		case tracking.EventRaised, tracking.EventCleared:
			err = f.reportAlarm(ctx, a, e.Event == tracking.EventCleared)
		case tracking.EventResolved:
			d := ""
			if extra.Disposal != nil {
				d = *extra.Disposal
			}
			err = f.reportResult(ctx, a, DisposalResult(d))
		}
		if err != nil {
			// An event naming an unknown vehicle or alarm can never be sent: skip it (and say so)
			// rather than stall every later alarm behind it.
			if code := tracking.ErrorCode(err); code == tracking.ENOTFOUND || code == tracking.EINVALID {
				f.cfg.Log.Warn("JT/T 809 uplink: alarm event skipped", "alarm", a.ID, "event", e.Event, "err", err)
			} else {
				return last, err
			}
		}
		last = md.Sequence.Stream
	}
	return last, nil
}

// warnWrapper is the 0x1400 wrapper of vehicle v in the link's version (2019 has no plate in it).
func (f *Forwarder) warnWrapper(v tracking.UplinkVehicle, dataType uint16, data []byte) []byte {
	wr := jt809.VehicleMsg{NoPlate: !jt809.PlateIn(f.link.Version(), jt809.MsgUpWarn), DataType: dataType, Data: data}
	if !wr.NoPlate {
		wr.Plate, wr.Color = v.Plate, uint8(v.PlateColor)
	}
	return wr.Marshal()
}

func (f *Forwarder) reportAlarm(ctx context.Context, a tracking.Alarm, cleared bool) error {
	v, err := f.vehicle(ctx, a.VehicleID, f.cfg.Now())
	if err != nil {
		return err
	}
	wt := WarnType(a)
	rep, err := f.store.InfoIDFor(ctx, a.ID, a.VehicleID, wt, a.RaisedAt)
	if err != nil {
		return err
	}
	w := jt809.WarnInfo{Src: jt809.WarnSrcEnterprise, Type: wt, Time: a.RaisedAt, InfoID: rep.InfoID, Content: content(a, cleared),
		SourcePlatformID: f.cfg.PlatformID, StartTime: a.StartedAt, Plate: v.Plate, Color: uint8(v.PlateColor)}
	if a.Kind == tracking.AlarmDevice {
		w.Src = jt809.WarnSrcTerminal
	}
	if cleared && a.ClearedAt != nil {
		w.EndTime = *a.ClearedAt
		if f.link.Version() == jt809.V2011 {
			w.Time = *a.ClearedAt
		}
	}
	sn, err := f.link.Send(jt809.MsgUpWarn, f.warnWrapper(v, jt809.DataAdptInfo, w.Marshal(f.link.Version())))
	if err != nil {
		return err
	}
	f.Stats.Alarms.Add(1)
	if !cleared {
		if _, err := f.store.RecordAlarmReport(context.WithoutCancel(ctx), a.ID, a.VehicleID, wt, a.RaisedAt, &sn); err != nil {
			f.cfg.Log.Error("JT/T 809 uplink: cannot record an alarm report", "alarm", a.ID, "err", err)
		}
	}
	return nil
}

// reportResult sends the handling result of a resolved alarm and answers its supervisions.
func (f *Forwarder) reportResult(ctx context.Context, a tracking.Alarm, result uint8) error {
	rep, err := f.store.AlarmReportByAlarm(ctx, a.ID)
	if tracking.ErrorCode(err) == tracking.ENOTFOUND {
		return nil // raised before the uplink existed: nothing was reported
	}
	if err != nil {
		return err
	}
	v, err := f.vehicle(ctx, a.VehicleID, f.cfg.Now())
	if err != nil {
		return err
	}
	if rep.ResultSent == nil {
		hr := jt809.HandleResult{InfoID: rep.InfoID, SourceDataType: jt809.DataAdptInfo, Result: result}
		if rep.MsgSN != nil {
			hr.SourceMsgSN = *rep.MsgSN
		}
		if _, err := f.link.Send(jt809.MsgUpWarn, f.warnWrapper(v, hr.DataType(f.link.Version()), hr.Marshal(f.link.Version()))); err != nil {
			return err
		}
		f.Stats.Results.Add(1)
		if err := f.store.SetReportResult(context.WithoutCancel(ctx), a.ID, int(result)); err != nil {
			return err
		}
	}
	sups, err := f.store.AlarmSupervisions(ctx, a.ID)
	if err != nil {
		return err
	}
	for _, s := range sups {
		if s.AnsweredAt != nil {
			continue
		}
		if err := f.answerSupervision(ctx, s, v, rep, result); err != nil {
			return err
		}
	}
	return nil
}

// answerSupervision sends 0x1401 for s with result and records it.
func (f *Forwarder) answerSupervision(ctx context.Context, s tracking.Supervision, v tracking.UplinkVehicle, rep tracking.AlarmReport, result uint8) error {
	ack := jt809.UrgeTodoAck{SupervisionID: uint32(s.SupervisionID), SourceDataType: jt809.DataAdptInfo, Result: result}
	if rep.MsgSN != nil {
		ack.SourceMsgSN = *rep.MsgSN
	}
	if _, err := f.link.Send(jt809.MsgUpWarn, f.warnWrapper(v, jt809.DataUrgeTodoAck, ack.Marshal(f.link.Version()))); err != nil {
		return err
	}
	s2, err := f.store.AnswerSupervision(context.WithoutCancel(ctx), s.ID, int(result))
	if err != nil {
		return err
	}
	if result != jt809.ResultProcessing && f.pub != nil {
		if err := f.pub.PublishSupervision(tracking.SupervisionEvent{Event: "answered", Supervision: s2}); err != nil {
			f.cfg.Log.Warn("JT/T 809 uplink: cannot publish a supervision event", "err", err)
		}
	}
	return nil
}

// HandleDown receives the regulator's requests (Handler).
func (f *Forwarder) HandleDown(ctx context.Context, h jt809.Header, b jt809.Business) {
	var err error
	switch d := b.Data.(type) {
	case jt809.UrgeTodoReq:
		err = f.supervise(ctx, h, b.Wrapper, d)
	case jt809.PostQueryReq:
		err = f.dutyCheck(ctx, h, d)
	default:
		f.cfg.Log.Info("JT/T 809: request not handled", "data_type", fmt.Sprintf("0x%04X", b.Wrapper.DataType))
		return
	}
	if err != nil {
		f.cfg.Log.Error("JT/T 809: cannot handle a request from the upper platform", "data_type", fmt.Sprintf("0x%04X", b.Wrapper.DataType), "err", err)
	}
}

func (f *Forwarder) supervise(ctx context.Context, h jt809.Header, wr jt809.VehicleMsg, u jt809.UrgeTodoReq) error {
	var rep tracking.AlarmReport
	var err error
	id := int64(u.SupervisionID)
	if f.link.Version() == jt809.V2019 {
		sn := u.SourceMsgSN
		rep, err = f.store.FindAlarmReport(ctx, &sn, "", 0, time.Time{})
		id = int64(h.SN)
	} else {
		rep, err = f.store.FindAlarmReport(ctx, nil, wr.Plate, u.Type, u.WarnTime)
	}
	if err != nil && tracking.ErrorCode(err) != tracking.ENOTFOUND {
		return err
	}
	ns := tracking.NewSupervision{SupervisionID: id, Level: int(u.Level), Supervisor: u.Supervisor, SupervisorTel: u.SupervisorTel,
		SupervisorEmail: u.SupervisorEmail, Deadline: u.EndTime, WarnType: int(u.Type), WarnTime: u.WarnTime, Plate: wr.Plate}
	if ns.Deadline.IsZero() {
		ns.Deadline = f.cfg.Now().Add(time.Hour)
	}
	if err == nil {
		ns.AlarmID = &rep.AlarmID
	} else {
		f.cfg.Log.Warn("JT/T 809: supervision request names no alarm Corridor reported", "supervision_id", id, "plate", wr.Plate,
			"warn_type", u.Type, "warn_time", u.WarnTime)
	}
	s, err := f.store.CreateSupervision(ctx, ns)
	if err != nil {
		return err
	}
	f.Stats.Supervisions.Add(1)
	f.cfg.Log.Info("JT/T 809: supervision request received", "supervision", s.ID, "alarm", s.AlarmID, "deadline", s.Deadline, "supervisor", s.Supervisor)
	if f.pub != nil {
		if err := f.pub.PublishSupervision(tracking.SupervisionEvent{Event: "requested", Supervision: s}); err != nil {
			f.cfg.Log.Warn("JT/T 809 uplink: cannot publish a supervision event", "err", err)
		}
	}
	// Answer at once: received and being handled, or the result if the alarm is already resolved.
	result := uint8(jt809.ResultProcessing)
	v := tracking.UplinkVehicle{Plate: wr.Plate, PlateColor: int(wr.Color)}
	if ns.AlarmID != nil {
		if rep.ResultSent != nil {
			result = uint8(*rep.ResultSent)
		}
		if a, err := f.store.GetAlarm(ctx, rep.AlarmID); err == nil {
			if veh, err := f.vehicle(ctx, a.VehicleID, f.cfg.Now()); err == nil {
				v = veh
			}
		}
	}
	return f.answerSupervision(ctx, s, v, rep, result)
}

func (f *Forwarder) dutyCheck(ctx context.Context, h jt809.Header, q jt809.PostQueryReq) error {
	n := tracking.NewDutyCheck{InfoID: int64(q.InfoID), MsgSN: int64(h.SN), Question: q.Content}
	if f.link.Version() == jt809.V2019 {
		ot, oid := int(q.ObjectType), q.ObjectID
		n.ObjectType, n.ObjectID = &ot, &oid
		n.AnswerWithin = time.Duration(q.AnswerMin) * time.Minute
	}
	d, err := f.store.CreateDutyCheck(ctx, n)
	if err != nil {
		return err
	}
	f.Stats.DutyChecks.Add(1)
	f.cfg.Log.Warn("JT/T 809: duty check from the regulator awaits an on-duty officer's answer (POST /v1/duty-checks/{id}/answer)",
		"duty_check", d.ID, "question", d.Question)
	return nil
}

// poll sends answered duty checks up and escalates supervisions whose deadline approaches.
func (f *Forwarder) poll(ctx context.Context) {
	t := time.NewTicker(f.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := f.sendDutyAnswers(ctx); err != nil && ctx.Err() == nil && err != ErrDown {
			f.cfg.Log.Warn("JT/T 809 uplink: duty-check answers not sent yet", "err", err)
		}
		if err := f.escalate(ctx); err != nil && ctx.Err() == nil {
			f.cfg.Log.Warn("JT/T 809 uplink: supervision escalation check failed", "err", err)
		}
	}
}

func (f *Forwarder) sendDutyAnswers(ctx context.Context) error {
	if up, _, slaveUp, _ := f.link.State(); !up && !slaveUp {
		return ErrDown
	}
	us, err := f.store.UnsentDutyAnswers(ctx)
	if err != nil {
		return err
	}
	for _, u := range us {
		ack := jt809.PostQueryAck{InfoID: uint32(u.InfoID), Responder: u.AnsweredBy, SourceDataType: jt809.DataPostQueryReq,
			SourceMsgSN: uint32(u.MsgSN), Content: u.Answer}
		if u.ObjectType != nil {
			ack.ObjectType = uint8(*u.ObjectType)
		}
		if u.ObjectID != nil {
			ack.ObjectID = *u.ObjectID
		}
		body := jt809.VehicleMsg{NoPlate: true, DataType: jt809.DataPostQueryAck, Data: ack.Marshal(f.link.Version())}.Marshal()
		if _, err := f.link.Send(jt809.MsgUpPlatform, body); err != nil {
			return err
		}
		if err := f.store.MarkDutyAnswerSent(context.WithoutCancel(ctx), u.ID); err != nil {
			return err
		}
		f.cfg.Log.Info("JT/T 809: duty-check answer sent", "duty_check", u.ID, "by", u.AnsweredBy)
	}
	return nil
}

func (f *Forwarder) escalate(ctx context.Context) error {
	due, err := f.store.DueSupervisions(ctx, f.cfg.Now(), f.cfg.EscalateAt)
	if err != nil {
		return err
	}
	for _, s := range due {
		if s.AlarmID == nil {
			continue
		}
		a, err := f.store.GetAlarm(ctx, *s.AlarmID)
		if err != nil {
			return err
		}
		payload, _ := json.Marshal(map[string]any{"event": "escalated", "alarm": a, "reason": "supervision_deadline"})
		if err := f.pub.PublishAlarmEvent(ctx, a.Subject(), "escalated:supervision:"+s.ID, payload); err != nil {
			return err
		}
		if ok, err := f.store.MarkSupervisionEscalated(ctx, s.ID); err != nil {
			return err
		} else if ok {
			f.Stats.Escalations.Add(1)
			f.cfg.Log.Warn("JT/T 809: supervision deadline approaching; alarm escalated", "alarm", a.ID, "supervision", s.ID, "deadline", s.Deadline)
		}
	}
	return nil
}
