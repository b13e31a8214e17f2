// Package check validates qualdial's deployment files without a cluster, a
// Docker engine or the internet: the Kubernetes manifests in deploy/k8s are
// decoded strictly into the Kubernetes API types (an unknown or misplaced
// field fails), and the manifests, deploy/compose.yaml, deploy/Dockerfile and
// deploy/qualdial.service are held to the invariants the service relies on
// (stop grace above the call drain, probes, ports, health checks). It is a
// module of its own so that qualdial's module does not depend on the
// Kubernetes API. Run: cd deploy/check && go test ./...
package check
