package natsbus

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MaxDeadLetterPayload is how many bytes of the original input a dead letter keeps. A longer input
// is cut (truncated true); payload_size and payload_sha256 always describe the whole original,
// so the input can still be identified and its size seen.
const MaxDeadLetterPayload = 64 << 10

// maxDeadLetterDetail bounds the detail text (bytes, cut on a UTF-8 boundary).
const maxDeadLetterDetail = 4096

// deadLetterHeaderRoom is what a published dead letter leaves of the connection's max payload
// for its headers (Nats-Msg-Id) and protocol overhead.
const deadLetterHeaderRoom = 1024

// DeadLetter is what CONTRACT §2 publishes on deadletter.telemetry.
type DeadLetter struct {
	Reason  string `json:"reason"`
	Detail  string `json:"detail"`
	Subject string `json:"subject"`
	Payload string `json:"payload"` // original bytes, base64; at most MaxDeadLetterPayload of them
	// PayloadSize is the original input's length in bytes; PayloadSHA256 its SHA-256 (hex).
	PayloadSize   int    `json:"payload_size"`
	PayloadSHA256 string `json:"payload_sha256"`
	// Truncated is true when Payload holds only the first bytes of the original.
	Truncated bool `json:"truncated"`
	// MsgID, when set, de-duplicates the dead letter of a message seen twice (not published).
	MsgID string `json:"-"`
}

// NewDeadLetter builds a dead letter for an input, keeping at most MaxDeadLetterPayload bytes of
// it and the whole input's size and SHA-256.
func NewDeadLetter(reason, detail, subject string, payload []byte) DeadLetter {
	sum := sha256.Sum256(payload)
	dl := DeadLetter{Reason: reason, Detail: cutUTF8(detail, maxDeadLetterDetail), Subject: subject,
		PayloadSize: len(payload), PayloadSHA256: hex.EncodeToString(sum[:])}
	if len(payload) > MaxDeadLetterPayload {
		payload, dl.Truncated = payload[:MaxDeadLetterPayload], true
	}
	dl.Payload = base64.StdEncoding.EncodeToString(payload)
	return dl
}

// fit returns dl's JSON encoding, cut so that it is at most limit bytes: a dead letter must never
// be refused for its size (an input that can never be dead-lettered would be retried forever).
// A dead letter not made by NewDeadLetter gets its size and hash filled in here.
func (dl DeadLetter) fit(limit int) ([]byte, error) {
	if dl.PayloadSHA256 == "" {
		raw, err := base64.StdEncoding.DecodeString(dl.Payload)
		if err != nil {
			raw = []byte(dl.Payload) // not base64: keep what was given as the payload
		}
		orig := dl
		dl = NewDeadLetter(orig.Reason, orig.Detail, orig.Subject, raw)
		dl.MsgID = orig.MsgID
	}
	dl.Detail = cutUTF8(dl.Detail, maxDeadLetterDetail)
	data, err := json.Marshal(&dl)
	if err != nil || len(data) <= limit {
		return data, err
	}
	// Too big for this server (a small max_payload, or an overlong subject): keep as much of the
	// payload as fits.
	raw, err := base64.StdEncoding.DecodeString(dl.Payload)
	if err != nil {
		raw = nil
	}
	room := limit - (len(data) - len(dl.Payload)) - 16 // 16: "truncated":true and rounding
	keep := max(room, 0) / 4 * 3
	if keep < len(raw) {
		raw, dl.Truncated = raw[:keep], true
	}
	dl.Payload = base64.StdEncoding.EncodeToString(raw)
	if data, err = json.Marshal(&dl); err != nil || len(data) <= limit {
		return data, err
	}
	dl.Payload, dl.Truncated, dl.Subject = "", true, cutUTF8(dl.Subject, 256)
	return json.Marshal(&dl)
}

// cutUTF8 returns at most n bytes of s, cut on a rune boundary.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	s = s[:n]
	return s
}

// PublishDeadLetters stores dead letters in DEADLETTER and waits for the acks. Each is cut to fit
// the connection's max payload.
func (b *Bus) PublishDeadLetters(ctx context.Context, dls []DeadLetter) error {
	limit := int(b.NC.MaxPayload()) - deadLetterHeaderRoom
	futures := make([]jetstream.PubAckFuture, 0, len(dls))
	for i := range dls {
		data, err := dls[i].fit(limit)
		if err != nil {
			return err
		}
		m := &nats.Msg{Subject: SubjectDeadLetterTelemetry, Data: data}
		if dls[i].MsgID != "" {
			m.Header = nats.Header{jetstream.MsgIDHeader: []string{dls[i].MsgID}}
		}
		f, err := b.JS.PublishMsgAsync(m)
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	return awaitAcks(ctx, futures)
}
