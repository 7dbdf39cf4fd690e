// Package tracking holds Corridor's domain types (positions, vehicles, corridors, zones, trips,
// alarms, live vehicle state), their validation and the one error type shared by every layer.
// It imports nothing of ours and does no I/O.
package tracking

import (
	"errors"
	"fmt"
)

// Error codes. Adapters map them to transport errors in one place (HTTP status, dead-letter reason).
const (
	EINVALID   = "invalid"
	ENOTFOUND  = "not_found"
	ECONFLICT  = "conflict"
	EFORBIDDEN = "forbidden"
	EUNAUTH    = "unauthorized"
	EINTERNAL  = "internal"
	// EUNAVAILABLE: a dependency (database, NATS) cannot be reached now; retry later.
	EUNAVAILABLE = "unavailable"
	// ETOOLARGE: the input is larger than a transport can carry.
	ETOOLARGE = "too_large"
)

// FieldError names one bad field of an input; Index is set for items of a batch.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	Index   *int   `json:"index,omitempty"`
	// Reason is the dead-letter reason code for this field (CONTRACT §2), e.g. invalid_field.
	Reason string `json:"-"`
}

// Error is the application error. Message is safe to show to the caller.
type Error struct {
	Code    string
	Message string
	Fields  []FieldError
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s (%s: %s)", e.Code, e.Message, e.Fields[0].Field, e.Fields[0].Message)
}

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EINTERNAL for errors that are not *Error, "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	}
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Invalid builds an EINVALID error from field errors.
func Invalid(fields ...FieldError) *Error {
	msg := "invalid input"
	if len(fields) == 1 {
		msg = fields[0].Field + ": " + fields[0].Message
	} else if len(fields) > 1 {
		msg = fmt.Sprintf("%d invalid fields", len(fields))
	}
	return &Error{Code: EINVALID, Message: msg, Fields: fields}
}
