package httpapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Resource lists (vehicles, trips, carriers, corridors, zones, API keys) take limit (1..1000,
// default 1000) and cursor. Arrays stay arrays for compatibility; the next page is named by a
// Link: <...>; rel="next" header (RFC 8288) and an X-Next-Cursor header, absent on the last page.
// FeatureCollections carry a top-level "next_cursor" member instead (null on the last page).

// parsePage reads limit and cursor.
func parsePage(r *http.Request) (tracking.Page, error) {
	q := r.URL.Query()
	p := tracking.Page{Cursor: q.Get("cursor")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > tracking.MaxPageLimit {
			return p, tracking.Invalid(tracking.FieldError{Field: "limit", Message: "must be an integer in [1, " + strconv.Itoa(tracking.MaxPageLimit) + "]"})
		}
		p.Limit = n
	}
	if len(p.Cursor) > 512 {
		return p, tracking.Invalid(tracking.FieldError{Field: "cursor", Message: "not a cursor of this list"})
	}
	return p, nil
}

// setNext announces the next page in the Link and X-Next-Cursor headers.
func setNext(w http.ResponseWriter, r *http.Request, next string) {
	if next == "" {
		return
	}
	q := r.URL.Query()
	q.Set("cursor", next)
	q.Del("access_token")
	u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	w.Header().Set("Link", "<"+u.String()+`>; rel="next"`)
	w.Header().Set("X-Next-Cursor", next)
}

// pagedCollection is a FeatureCollection with a next_cursor foreign member (RFC 7946 §6.1).
type pagedCollection struct {
	Type       string    `json:"type"`
	Features   []Feature `json:"features"`
	NextCursor *string   `json:"next_cursor"`
}

func pagedFeatures(fs []Feature, next string) pagedCollection {
	c := pagedCollection{Type: "FeatureCollection", Features: nonNil(fs)}
	if next != "" {
		c.NextCursor = &next
	}
	return c
}
