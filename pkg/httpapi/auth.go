package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	"github.com/corridor-dev/corridor/pkg/tracking"
)

// AdminKeyID is the principal KeyID of the bootstrap admin token.
const AdminKeyID = "admin-token"

type principalKey struct{}

// principal returns the authenticated caller of a /v1 request.
func principal(r *http.Request) tracking.Principal {
	p, _ := r.Context().Value(principalKey{}).(tracking.Principal)
	return p
}

// scope is the carrierID a store call is limited to: the caller's carrier for a carrier token,
// "" (everything) for the other roles.
func scope(p tracking.Principal) string {
	if p.Role == tracking.RoleCarrier {
		return p.CarrierID
	}
	return ""
}

// who names the caller in acknowledged_by and resolved_by: the key's name, else its id.
func who(p tracking.Principal) string {
	if p.Name != "" {
		return p.Name
	}
	return p.KeyID
}

// bearerToken returns the request's bearer token; the access_token query parameter is accepted
// only where allowQuery is set (EventSource cannot send headers).
func bearerToken(r *http.Request, allowQuery bool) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
		return ""
	}
	if allowQuery {
		return r.URL.Query().Get("access_token")
	}
	return ""
}

// authenticate resolves the bearer token to a principal: first the bootstrap admin token
// (constant-time comparison), then API keys. No or an unknown token is 401.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := bearerToken(r, r.URL.Path == "/v1/stream")
		if token == "" {
			s.writeError(w, r, tracking.Errorf(tracking.EUNAUTH, "a bearer token is required (Authorization: Bearer <token>)"))
			return
		}
		p, err := s.resolve(r.Context(), token)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if lr, ok := r.Context().Value(logInfoKey{}).(*logInfo); ok {
			lr.principal = p.KeyID
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// resolve returns the principal of a token: EUNAUTH for an unknown or revoked one, EUNAVAILABLE
// or EINTERNAL when the key store cannot answer.
func (s *server) resolve(ctx context.Context, token string) (tracking.Principal, error) {
	sum := sha256.Sum256([]byte(token))
	if s.AdminToken != "" {
		adminSum := sha256.Sum256([]byte(s.AdminToken))
		if subtle.ConstantTimeCompare(sum[:], adminSum[:]) == 1 {
			return tracking.Principal{KeyID: AdminKeyID, Name: "admin", Role: tracking.RoleAdmin}, nil
		}
	}
	if s.APIKeys == nil {
		return tracking.Principal{}, tracking.Errorf(tracking.EUNAUTH, "unknown or revoked token")
	}
	p, err := s.principalByToken(ctx, token, sum)
	if err != nil {
		if c := tracking.ErrorCode(err); c != tracking.EINTERNAL && c != tracking.EUNAVAILABLE {
			err = tracking.Errorf(tracking.EUNAUTH, "unknown or revoked token")
		}
		return tracking.Principal{}, err
	}
	return p, nil
}

// allow lets only the given roles through; others get 403.
func (s *server) allow(roles ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := principal(r)
			if !slices.Contains(roles, p.Role) {
				s.writeError(w, r, tracking.Errorf(tracking.EFORBIDDEN, "role %s may not %s %s", p.Role, r.Method, r.URL.Path))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
