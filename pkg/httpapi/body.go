package httpapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// MaxBodyBytes is the largest request body accepted, before and after gzip decompression.
const MaxBodyBytes = 1 << 20

// errTooLarge and errEncoding are answered as 413 and 415 by writeBodyError.
var (
	errTooLarge = errors.New("request body larger than 1 MiB")
	errEncoding = errors.New("unsupported Content-Encoding; use gzip or none")
)

// readBody reads the request body, decompressing a gzip Content-Encoding, and refuses bodies over
// MaxBodyBytes whether compressed or decompressed.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, errTooLarge
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	var src io.Reader = body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return nil, errTooLarge
			}
			return nil, tracking.Invalid(tracking.FieldError{Field: "body", Message: "not valid gzip: " + err.Error()})
		}
		defer zr.Close()
		src = zr
	default:
		return nil, errEncoding
	}
	data, err := io.ReadAll(io.LimitReader(src, MaxBodyBytes+1))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, errTooLarge
		}
		return nil, tracking.Invalid(tracking.FieldError{Field: "body", Message: "cannot read body: " + err.Error()})
	}
	if len(data) > MaxBodyBytes {
		return nil, errTooLarge
	}
	return data, nil
}

// writeBodyError answers a readBody or decodeJSON error.
func (s *server) writeBodyError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, errTooLarge):
		problem(w, http.StatusRequestEntityTooLarge, problemTooLarge, "the request body is larger than 1 MiB (1048576 bytes), compressed or not")
	case errors.Is(err, errEncoding):
		problem(w, http.StatusUnsupportedMediaType, problemUnsupportedMedia, err.Error())
	default:
		s.writeError(w, r, err)
	}
}

// decodeJSON reads the body and decodes it into dst. Unknown fields are ignored. Errors are
// errTooLarge, errEncoding, or EINVALID naming the field where JSON says which one.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	data, err := readBody(w, r)
	if err != nil {
		return err
	}
	return unmarshal(data, dst)
}

// unmarshal decodes data into dst, mapping JSON errors to EINVALID field errors.
func unmarshal(data []byte, dst any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return tracking.Invalid(tracking.FieldError{Field: "body", Message: "a JSON body is required"})
	}
	if err := json.Unmarshal(data, dst); err != nil {
		return jsonError(err, "")
	}
	return nil
}

// jsonError turns a JSON decoding error into EINVALID; prefix is prepended to the field path.
func jsonError(err error, prefix string) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return tracking.Invalid(tracking.FieldError{Field: "body", Message: "malformed JSON at byte " + strconv.FormatInt(se.Offset, 10) + ": " + se.Error()})
	case errors.As(err, &te):
		field := te.Field
		if prefix != "" {
			field = strings.TrimSuffix(prefix+"."+field, ".")
		}
		if field == "" {
			field = "body"
		}
		return tracking.Invalid(tracking.FieldError{Field: field, Message: "must be " + jsonType(te.Type.Kind().String()) + ", not " + te.Value})
	case errors.Is(err, io.ErrUnexpectedEOF):
		return tracking.Invalid(tracking.FieldError{Field: "body", Message: "malformed JSON: unexpected end of input"})
	}
	field := "body"
	if prefix != "" {
		field = prefix
	}
	return tracking.Invalid(tracking.FieldError{Field: field, Message: err.Error()})
}

// jsonType names a Go kind the way a JSON user would.
func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "float64", "float32", "int", "int64", "int32", "uint", "uint64", "uint32":
		return "a number"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	}
	return "a " + kind
}
