package uplink_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/jt809"
	"github.com/corridor-dev/corridor/pkg/jt809/jt809test"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// frameSN returns the MSG_SN of the n-th frame carrying dataType.
func frameSN(p *jt809test.Platform, dataType uint16, n int) uint32 {
	i := 0
	for _, f := range p.Frames() {
		if b, ok := f.Body.(jt809.Business); ok && b.Wrapper.DataType == dataType {
			if i == n {
				return f.Header.SN
			}
			i++
		}
	}
	return 0
}

// TestUplink2019: with the 2019 layouts, positions carry the JT/T 808 0x0200 body, the alarm
// report has the plate inside 0x1402, a 0x9401 naming the report by its MSG_SN is linked to the
// alarm, the handling result is 0x1412 naming that MSG_SN, and a duty-check answer (0x1301) names
// the 0x9301's MSG_SN and echoes its object.
func TestUplink2019(t *testing.T) {
	r := newRig(t, jt809.V2019)
	ctx := context.Background()
	r.start()

	r.publish("v1", r.now.Add(-5*time.Second).Truncate(time.Second))
	r.p.WaitFor("0x1202", func() bool { return len(r.p.Business(jt809.DataRealLocation)) == 1 })
	g := r.p.Business(jt809.DataRealLocation)[0].Data.(jt809.RealLocation).GNSS
	if g.Lat != 29.85 || g.Lon != 107.1 || g.SpeedKmh != 40 || !g.Time.Equal(r.now.Add(-5*time.Second).Truncate(time.Second)) {
		t.Fatalf("2019 0x1202 %+v", g)
	}

	a, err := r.db.GetAlarm(ctx, r.alarm)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(tracking.AlarmEvent{Event: "raised", Alarm: a})
	if err := r.bus.PublishAlarmEvent(ctx, a.Subject(), "raised:"+a.ID, data); err != nil {
		t.Fatal(err)
	}
	r.p.WaitFor("0x1402", func() bool { return len(r.p.Business(jt809.DataAdptInfo)) == 1 })
	b := r.p.Business(jt809.DataAdptInfo)[0]
	wi := b.Data.(jt809.WarnInfo)
	if !b.Wrapper.NoPlate || wi.Plate != "渝A12345" || wi.Color != 2 || wi.Type != jt809.WarnRouteDeviation || !wi.StartTime.Equal(a.StartedAt) {
		t.Fatalf("2019 0x1402 %+v %+v", b.Wrapper, wi)
	}
	reportSN := frameSN(r.p, jt809.DataAdptInfo, 0)
	r.p.WaitFor("report recorded", func() bool {
		rep, err := r.db.AlarmReportByAlarm(ctx, a.ID)
		return err == nil && rep.MsgSN != nil && *rep.MsgSN == reportSN
	})

	u := jt809.UrgeTodoReq{WarnTime: a.RaisedAt, SourceDataType: jt809.DataAdptInfo, SourceMsgSN: reportSN,
		EndTime: time.Now().Add(time.Hour), Level: 1, Supervisor: "王"}
	supSN := r.p.Send(jt809.MsgDownWarn, jt809.VehicleMsg{NoPlate: true, DataType: jt809.DataUrgeTodoReq, Data: u.Marshal(jt809.V2019)}.Marshal())
	r.p.WaitFor("0x1401", func() bool { return len(r.p.Business(jt809.DataUrgeTodoAck)) == 1 })
	ack := r.p.Business(jt809.DataUrgeTodoAck)[0].Data.(jt809.UrgeTodoAck)
	if ack.SupervisionID != supSN || ack.SourceDataType != jt809.DataAdptInfo || ack.SourceMsgSN != reportSN || ack.Result != jt809.ResultProcessing {
		t.Fatalf("2019 0x1401 %+v (supervision frame SN %d, report SN %d)", ack, supSN, reportSN)
	}

	if _, err := r.db.Pool.Exec(ctx, `update alarms set state = 'resolved', resolved_at = now(), resolved_by = 'x', note = 'n' where id = $1`, a.ID); err != nil {
		t.Fatal(err)
	}
	a.State = tracking.StateResolved
	data, _ = json.Marshal(tracking.AlarmEvent{Event: "resolved", Alarm: a})
	if err := r.bus.PublishAlarmEvent(ctx, a.Subject(), "resolved:"+a.ID, data); err != nil {
		t.Fatal(err)
	}
	r.p.WaitFor("0x1412", func() bool { return len(r.p.Business(jt809.DataWarnHandleResult)) == 1 })
	if hr := r.p.Business(jt809.DataWarnHandleResult)[0].Data.(jt809.HandleResult); hr.SourceMsgSN != reportSN || hr.Result != jt809.ResultDone {
		t.Fatalf("0x1412 %+v", hr)
	}

	qSN := r.p.Send(jt809.MsgDownPlatform, jt809.VehicleMsg{NoPlate: true, DataType: jt809.DataPostQueryReq,
		Data: jt809.PostQueryReq{ObjectType: 2, ObjectID: "20180920", AnswerMin: 10, InfoID: 3, Content: "查岗"}.Marshal(jt809.V2019)}.Marshal())
	var checks []tracking.DutyCheck
	r.p.WaitFor("duty check", func() bool { checks, _, _ = r.db.ListDutyChecks(ctx, nil, 5, ""); return len(checks) == 1 })
	if checks[0].AnswerBy == nil || checks[0].AnswerBy.Sub(checks[0].AskedAt) != 10*time.Minute {
		t.Fatalf("answer_by %+v", checks[0])
	}
	if _, err := r.db.AnswerDutyCheck(ctx, checks[0].ID, "在岗", "zhao"); err != nil {
		t.Fatal(err)
	}
	r.p.WaitFor("0x1301", func() bool { return len(r.p.Business(jt809.DataPostQueryAck)) == 1 })
	q := r.p.Business(jt809.DataPostQueryAck)[0].Data.(jt809.PostQueryAck)
	if q.SourceMsgSN != qSN || q.SourceDataType != jt809.DataPostQueryReq || q.ObjectID != "20180920" || q.ObjectType != 2 || q.Responder != "zhao" || q.Content != "在岗" {
		t.Fatalf("2019 0x1301 %+v", q)
	}
}
