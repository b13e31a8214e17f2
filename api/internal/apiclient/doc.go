// Package apiclient is a Go client of qualdial's HTTP API, generated from
// api/openapi.yaml by oapi-codegen (a tool dependency in go.mod). It exists
// to prove the document is one a client generator can use: the API's tests
// drive a real server through it.
package apiclient

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../openapi.yaml
