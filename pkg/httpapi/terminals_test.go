package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/corridor-dev/corridor/pkg/postgres"
	"github.com/corridor-dev/corridor/pkg/tracking"
)

// A vehicle's terminal clock offset is optional, validated and patchable; its refused fixes
// show as "rejected" on GET (one and list) in the shape the screen reads, to its own carrier
// only; an admin resets its JT/T 808 registration.
func TestVehicleTerminalFields(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.do("POST", "/v1/vehicles", roleAdmin, map[string]any{"id": "t1", "carrier_id": "acme", "plate": "P1",
		"terminal_id": "013811112222", "jt808_time_offset": "+00:00"})
	wantStatus(t, r, http.StatusCreated)
	var v tracking.Vehicle
	r.decode(t, &v)
	if v.JT808TimeOffset == nil || *v.JT808TimeOffset != "+00:00" || v.Rejected != nil {
		t.Fatalf("created %+v", v)
	}
	r = e.do("POST", "/v1/vehicles", roleAdmin, map[string]any{"id": "t2", "carrier_id": "acme", "plate": "P2", "jt808_time_offset": "UTC"})
	wantStatus(t, r, http.StatusBadRequest)
	if p := r.problem(t); len(p.Errors) != 1 || p.Errors[0].Field != "jt808_time_offset" {
		t.Errorf("problem %+v", p)
	}
	r = e.do("PATCH", "/v1/vehicles/t1", roleAdmin, map[string]any{"jt808_time_offset": "-05:30"})
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &v)
	if v.JT808TimeOffset == nil || *v.JT808TimeOffset != "-05:30" {
		t.Fatalf("patched %+v", v)
	}
	r = e.do("PATCH", "/v1/vehicles/t1", roleAdmin, map[string]any{"jt808_time_offset": nil})
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &v)
	if v.JT808TimeOffset != nil {
		t.Fatalf("cleared %+v", v)
	}

	// Rejections: recorded for the vehicle's own carrier only.
	at := time.Date(2026, 1, 15, 8, 0, 0, 123000, time.UTC)
	if err := e.db.RecordRejections(ctx, []postgres.Rejection{
		{VehicleID: "t1", CarrierID: "acme", Reason: tracking.ReasonStaleFix, Detail: "older", At: at},
		{VehicleID: "t1", CarrierID: "acme", Reason: tracking.ReasonStaleFix, Detail: "older still", At: at.Add(time.Second)},
		{VehicleID: "t1", CarrierID: "acme", Reason: tracking.ReasonFutureFix, Detail: "ahead", At: at.Add(-time.Hour)},
		{VehicleID: "t1", CarrierID: "beta", Reason: tracking.ReasonCarrierMismatch, Detail: "not yours", At: at.Add(time.Hour)},
		{VehicleID: "nope", CarrierID: "acme", Reason: tracking.ReasonUnknownVehicle, Detail: "who", At: at},
	}); err != nil {
		t.Fatal(err)
	}
	r = e.do("GET", "/v1/vehicles/t1", roleCarrier, nil)
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &v)
	want := tracking.Rejections{Counts: map[string]int64{"stale_fix": 2, "future_fix": 1},
		Last: tracking.LastRejection{Reason: "stale_fix", Detail: "older still", At: at.Add(time.Second)}}
	if v.Rejected == nil || len(v.Rejected.Counts) != 2 || v.Rejected.Counts["stale_fix"] != 2 || v.Rejected.Counts["future_fix"] != 1 ||
		v.Rejected.Last.Reason != want.Last.Reason || v.Rejected.Last.Detail != want.Last.Detail || !v.Rejected.Last.At.Equal(want.Last.At) {
		t.Fatalf("rejected %+v, want %+v", v.Rejected, want)
	}
	// The same shape in the list; vehicles without rejections have no "rejected".
	var list []map[string]any
	r = e.do("GET", "/v1/vehicles", roleAdmin, nil)
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &list)
	for _, item := range list {
		_, has := item["rejected"]
		if has != (item["id"] == "t1") {
			t.Errorf("vehicle %v: rejected present %v", item["id"], has)
		}
	}
	// Counts add up over calls.
	if err := e.db.RecordRejections(ctx, []postgres.Rejection{{VehicleID: "t1", CarrierID: "acme", Reason: tracking.ReasonStaleFix, Detail: "old", At: at.Add(-time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	r = e.do("GET", "/v1/vehicles/t1", roleAdmin, nil)
	r.decode(t, &v)
	if v.Rejected.Counts["stale_fix"] != 3 || v.Rejected.Last.Detail != "older still" {
		t.Errorf("after an older rejection: %+v", v.Rejected)
	}

	// Registration reset.
	if _, err := e.db.RegisterTerminal(ctx, "13811112222", make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	r = e.do("POST", "/v1/vehicles/t1/terminal/reset", roleCarrier, nil)
	wantStatus(t, r, http.StatusForbidden)
	r = e.do("POST", "/v1/vehicles/t1/terminal/reset", roleAdmin, nil)
	wantStatus(t, r, http.StatusNoContent)
	if _, _, err := e.db.RegisteredTerminal(ctx, "13811112222"); tracking.ErrorCode(err) != tracking.ENOTFOUND {
		t.Errorf("after reset: %v", err)
	}
	r = e.do("POST", "/v1/vehicles/nope/terminal/reset", roleAdmin, nil)
	wantStatus(t, r, http.StatusNotFound)
}
