// Writes an HDR interval log with hdrhistogram-go's HistogramLogWriter, the way scylla-bench
// does, and prints what hdrhistogram-go computes over it: see main.go.
module pytest-scyllabench.local/hdrgo

go 1.23.0

require github.com/HdrHistogram/hdrhistogram-go v1.2.0
