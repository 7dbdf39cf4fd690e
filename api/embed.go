// Package api embeds Corridor's REST contract, api/openapi.yaml, so that the server can serve it
// at /openapi.yaml and tests can compare it with the router.
package api

import _ "embed"

// Spec is the OpenAPI document (api/openapi.yaml).
//
//go:embed openapi.yaml
var Spec []byte
