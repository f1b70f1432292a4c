// Builds scylla-bench for pytest-scyllabench:
//   GOFLAGS=-mod=mod go build -o scylla-bench github.com/scylladb/scylla-bench
// A replace directive of a dependency is ignored, so the one of scylla-bench's own go.mod
// is repeated here; without it gocql resolves to the upstream driver and the build fails.
module pytest-scyllabench.local/scylla-bench-build

go 1.25.0

require github.com/scylladb/scylla-bench v1.1.1

replace github.com/gocql/gocql => github.com/scylladb/gocql v1.17.3
