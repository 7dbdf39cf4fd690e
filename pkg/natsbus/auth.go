package natsbus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// Auth is how a client proves itself to a NATS server. At most one of Token, NKeySeedFile and
// CredsFile may be set; a user and password can also be given in the URL
// (nats://user:pass@host:4222) or as User and Password.
type Auth struct {
	User, Password string
	Token          string // NATS_TOKEN
	NKeySeedFile   string // NATS_NKEY: a file holding an nkey user seed (SU...)
	CredsFile      string // NATS_CREDS: a JWT + seed .creds file (NATS accounts, decentralised auth)
}

// AuthFromEnv reads NATS_USER, NATS_PASSWORD, NATS_TOKEN, NATS_NKEY and NATS_CREDS.
func AuthFromEnv(getenv func(string) string) (Auth, error) {
	a := Auth{
		User: strings.TrimSpace(getenv("NATS_USER")), Password: getenv("NATS_PASSWORD"),
		Token: strings.TrimSpace(getenv("NATS_TOKEN")), NKeySeedFile: strings.TrimSpace(getenv("NATS_NKEY")),
		CredsFile: strings.TrimSpace(getenv("NATS_CREDS")),
	}
	n := 0
	for _, v := range []string{a.Token, a.NKeySeedFile, a.CredsFile} {
		if v != "" {
			n++
		}
	}
	var errs []error
	if n > 1 {
		errs = append(errs, errors.New("NATS_TOKEN, NATS_NKEY and NATS_CREDS: set at most one"))
	}
	if (a.User == "") != (a.Password == "") {
		errs = append(errs, errors.New("NATS_USER and NATS_PASSWORD: set both or neither"))
	}
	for _, f := range []struct{ name, path string }{{"NATS_NKEY", a.NKeySeedFile}, {"NATS_CREDS", a.CredsFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", f.name, err))
		}
	}
	return a, errors.Join(errs...)
}

// Options returns the nats.go options for a.
func (a Auth) Options() ([]nats.Option, error) {
	var opts []nats.Option
	if a.User != "" {
		opts = append(opts, nats.UserInfo(a.User, a.Password))
	}
	switch {
	case a.Token != "":
		opts = append(opts, nats.Token(a.Token))
	case a.NKeySeedFile != "":
		o, err := nats.NkeyOptionFromSeed(a.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("NATS_NKEY: %v", err)
		}
		opts = append(opts, o)
	case a.CredsFile != "":
		opts = append(opts, nats.UserCredentials(a.CredsFile))
	}
	return opts, nil
}

// RedactURL hides the password (or token) of every URL in a NATS server list, for logs and
// error messages: nats://user:secret@host:4222 becomes nats://user:xxxxx@host:4222.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		if err != nil || u.User == nil {
			if strings.Contains(p, "@") { // unparsable but has credentials: keep only the host part
				parts[i] = "xxxxx@" + p[strings.LastIndex(p, "@")+1:]
			} else {
				parts[i] = p
			}
			continue
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			u.User = url.User("xxxxx") // a token as the user part
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}

// publishError classifies a failed publish: a connection that is down or a timeout is EUNAVAILABLE
// (retry later), a message over the server's payload limit ETOOLARGE, anything else as is.
func publishError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nats.ErrMaxPayload):
		return tracking.Errorf(tracking.ETOOLARGE, "a message is larger than the NATS server accepts")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, jetstream.ErrTooManyStalledMsgs):
		return &tracking.Error{Code: tracking.EUNAVAILABLE, Message: "NATS JetStream did not acknowledge in time: " + err.Error()}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return &tracking.Error{Code: tracking.EUNAVAILABLE, Message: "NATS unreachable: " + err.Error()}
	}
	return err
}
