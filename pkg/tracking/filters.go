package tracking

import "time"

// AlarmFilter selects alarms for listing; nil fields do not filter. Results are newest first
// (raised_at, then id, descending); Cursor continues after the last alarm of the previous page.
type AlarmFilter struct {
	State     *string
	Kind      *string
	VehicleID *string
	CarrierID *string
	Active    *bool
	Since     *time.Time // raised_at >= Since
	Limit     int        // 1..1000, default 100
	Cursor    string     // opaque, from a previous page's next cursor
}

// TrackFilter selects stored fixes of one vehicle in [From, To), oldest first.
type TrackFilter struct {
	From, To time.Time
	Limit    int    // 1..10000, default 1000
	Cursor   string // opaque, from a previous page's next cursor: fixes after it
}

// Page selects one page of a list: at most Limit items (1..MaxPageLimit, default
// DefaultPageLimit) after Cursor (opaque, from a previous page's next cursor; "" = first page).
type Page struct {
	Limit  int
	Cursor string
}

// Page sizes of resource lists (vehicles, trips, carriers, corridors, zones, API keys).
const (
	DefaultPageLimit = 1000
	MaxPageLimit     = 1000
)

// StoredPosition is a fix as kept in history, with the flags the engine set on it.
type StoredPosition struct {
	Position
	Flags      []string  `json:"flags,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}

// Position flags.
const (
	FlagImplausibleJump = "implausible_jump"
	FlagOutOfOrder      = "out_of_order"
	FlagBadCAN          = "bad_can" // some of its J1939 frames could not be decoded
)
