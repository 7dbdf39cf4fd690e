package natsbus

import (
	"encoding/json"

	"github.com/nats-io/nats.go"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// SubjectSupervision prefixes the core-NATS subjects of supervision events:
// supervision.<carrier_id> (carrier "_" when the request matched no alarm). They are not stored:
// the record is in PostgreSQL and GET /v1/alarms/{id}/supervisions serves it.
const SubjectSupervision = "supervision"

// PublishSupervision publishes a supervision event for the live stream (JT/T 809 uplink).
func (b *Bus) PublishSupervision(e tracking.SupervisionEvent) error {
	data, err := json.Marshal(&e)
	if err != nil {
		return err
	}
	carrier := "_"
	if e.Supervision.CarrierID != nil {
		carrier = *e.Supervision.CarrierID
	}
	return b.NC.Publish(SubjectSupervision+"."+carrier, data)
}

// SubscribeSupervisions calls fn for every supervision event (the API's live stream).
func (b *Bus) SubscribeSupervisions(fn func(tracking.SupervisionEvent)) (func(), error) {
	sub, err := b.NC.Subscribe(SubjectSupervision+".>", func(m *nats.Msg) {
		var e tracking.SupervisionEvent
		if err := json.Unmarshal(m.Data, &e); err != nil {
			b.log.Warn("bad supervision event", "subject", m.Subject, "err", err)
			return
		}
		fn(e)
	})
	if err != nil {
		return nil, err
	}
	return func() { _ = sub.Unsubscribe() }, nil
}
