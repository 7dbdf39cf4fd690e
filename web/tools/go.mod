module corridor-web-tools

// This go.mod keeps node_modules out of the corridor module (go build ./...).
