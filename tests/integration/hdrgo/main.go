// Command hdrgo writes an HDR interval log with hdrhistogram-go's HistogramLogWriter the way
// scylla-bench does (pkg/results: InitHdrLogWriter and SaveLatenciesToHdrHistogram), from
// latencies drawn from a seeded generator instead of a database, and prints as JSON what
// hdrhistogram-go itself computes over the merged histogram of all intervals, per tag.
//
// The log: format version, a comment, Basetime and StartTime (the start rounded down to a
// whole second), the legend, then per period of about 1 s one histogram per tag, co-fixed
// then raw, then raw-read, co-fixed-read, raw-write, co-fixed-write when they hold values
// (-mode mixed). Timestamps are relative to the base time (SetBaseTime). Histograms are
// hdrhistogram.New(50, 15000000, 3): scylla-bench's 50 us .. 3 x its 5 s default timeout,
// 3 digits, in microseconds (-hdr-latency-units us).
//
// Usage: hdrgo -hlog out.hlog [-json out.json] [-seed 1] [-periods 8] [-rate 1000]
//
//	[-mode write|read|mixed] [-start-ms <ms since epoch, default now>]
//
// Output is a function of the flags and of TZ (StartTime's ISO date is in local time).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

const (
	lowest  = 50
	highest = 15_000_000
	digits  = 3
	module  = "github.com/HdrHistogram/hdrhistogram-go"
)

// Tags in the order scylla-bench writes them; the last four only when not empty.
var tags = []string{"co-fixed", "raw", "raw-read", "co-fixed-read", "raw-write", "co-fixed-write"}

type tagResult struct {
	Count       int64            `json:"count"`
	Intervals   int              `json:"intervals"`
	Min         int64            `json:"min"`
	Max         int64            `json:"max"`
	Mean        float64          `json:"mean"`
	Percentiles map[string]int64 `json:"percentiles"`
	// The merged histogram, V2 compressed and base64 encoded by hdrhistogram-go.
	Merged string `json:"merged"`
}

type output struct {
	Writer    string                `json:"writer"`
	Go        string                `json:"go"`
	Seed      uint64                `json:"seed"`
	Mode      string                `json:"mode"`
	Periods   int                   `json:"periods"`
	Rate      int                   `json:"rate"`
	StartMs   int64                 `json:"start_ms"`
	BaseMs    int64                 `json:"base_ms"`
	Histogram [3]int64              `json:"histogram"`
	Intervals [][2]int64            `json:"intervals"`
	Tags      map[string]*tagResult `json:"tags"`
}

// percentiles are the ones scylla-bench prints, and 99.9.
var percentiles = []float64{50, 90, 95, 99, 99.9}

func main() {
	hlog := flag.String("hlog", "", "interval log to write (required)")
	jsonPath := flag.String("json", "", "JSON summary to write (default: standard output)")
	seed := flag.Uint64("seed", 1, "seed of the latency generator")
	periods := flag.Int("periods", 8, "number of reporting periods of about 1 s")
	rate := flag.Int("rate", 1000, "operations per period (varied by up to 2.5%)")
	mode := flag.String("mode", "mixed", "write, read or mixed (alternates write and read)")
	startMs := flag.Int64("start-ms", time.Now().UnixMilli(), "start, ms since the epoch")
	flag.Parse()
	if *hlog == "" || *periods < 1 || *rate < 40 {
		fail(fmt.Errorf("need -hlog, -periods >= 1 and -rate >= 40"))
	}
	if *mode != "write" && *mode != "read" && *mode != "mixed" {
		fail(fmt.Errorf("-mode must be write, read or mixed, not %q", *mode))
	}
	out, err := run(*hlog, *seed, *periods, *rate, *mode, *startMs)
	if err != nil {
		fail(err)
	}
	text, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		fail(err)
	}
	text = append(text, '\n')
	if *jsonPath == "" {
		_, err = os.Stdout.Write(text)
	} else {
		err = os.WriteFile(*jsonPath, text, 0o644)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "hdrgo:", err)
	os.Exit(1)
}

func writerVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == module {
				return module + " " + dep.Version
			}
		}
	}
	return module + " (unknown version)"
}

func run(path string, seed uint64, periods, rate int, mode string, startMs int64) (*output, error) {
	file, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	// As scylla-bench: the base time is the start rounded down to a whole second, announced
	// twice (Basetime, StartTime), and timestamps are relative to it.
	baseMs := startMs / 1000 * 1000
	writer := hdrhistogram.NewHistogramLogWriter(file)
	steps := []func() error{
		writer.OutputLogFormatVersion,
		func() error { return writer.OutputComment("Logging op latencies for Cassandra Stress") },
		func() error { writer.SetBaseTime(baseMs); return writer.OutputBaseTime(baseMs) },
		func() error { return writer.OutputStartTime(baseMs) },
		writer.OutputLegend,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}

	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	totals := map[string]*hdrhistogram.Histogram{}
	intervals := map[string]int{}
	for _, tag := range tags {
		totals[tag] = hdrhistogram.New(lowest, highest, digits)
	}
	result := &output{Writer: writerVersion(), Go: runtime.Version(), Seed: seed, Mode: mode,
		Periods: periods, Rate: rate, StartMs: startMs, BaseMs: baseMs,
		Histogram: [3]int64{lowest, highest, digits}, Tags: map[string]*tagResult{}}
	begin := startMs + 1 + rng.Int64N(4) // the first period starts just after the base time
	stall := periods / 2                 // one period with a 40 ms stall at its start
	for period := 0; period < periods; period++ {
		current := map[string]*hdrhistogram.Histogram{}
		for _, tag := range tags {
			current[tag] = hdrhistogram.New(lowest, highest, digits)
			current[tag].SetTag(tag)
		}
		count := rate - rate/40 + rng.IntN(rate/20+1)
		for op := 0; op < count; op++ {
			operation := mode
			if mode == "mixed" {
				operation = [2]string{"write", "read"}[op%2]
			}
			raw, fixed := latency(rng, operation, period == stall, float64(op)/float64(count))
			for tag, value := range map[string]int64{"raw": raw, "co-fixed": fixed,
				"raw-" + operation: raw, "co-fixed-" + operation: fixed} {
				if mode != "mixed" && tag != "raw" && tag != "co-fixed" {
					continue
				}
				if err := current[tag].RecordValue(value); err != nil {
					return nil, err
				}
			}
		}
		end := begin + 1000 + rng.Int64N(15)
		for _, tag := range tags {
			histogram := current[tag]
			if tag != "raw" && tag != "co-fixed" && histogram.TotalCount() == 0 {
				continue
			}
			histogram.SetStartTimeMs(begin)
			histogram.SetEndTimeMs(end)
			if err := writer.OutputIntervalHistogram(histogram); err != nil {
				return nil, err
			}
			if dropped := totals[tag].Merge(histogram); dropped != 0 {
				return nil, fmt.Errorf("%s: %d values dropped by Merge", tag, dropped)
			}
			intervals[tag]++
		}
		result.Intervals = append(result.Intervals, [2]int64{begin, end})
		begin = end + rng.Int64N(2)
	}
	for _, tag := range tags {
		total := totals[tag]
		if intervals[tag] == 0 {
			continue
		}
		encoded, err := total.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return nil, err
		}
		values := map[string]int64{}
		for _, p := range percentiles {
			values[fmt.Sprint(p)] = total.ValueAtQuantile(p)
		}
		result.Tags[tag] = &tagResult{Count: total.TotalCount(), Intervals: intervals[tag],
			Min: total.Min(), Max: total.Max(), Mean: total.Mean(), Percentiles: values,
			Merged: string(encoded)}
	}
	return result, file.Close()
}

// latency draws one operation's service time (raw) and response time (co-fixed), in
// microseconds: log-normal service times with rare slow ones, a short queueing delay, and
// in a stalled period a backlog that drains over its first fifth.
func latency(rng *rand.Rand, operation string, stalled bool, at float64) (int64, int64) {
	median := 450.0
	if operation == "read" {
		median = 800.0
	}
	service := median * math.Exp(0.45*rng.NormFloat64())
	if rng.Float64() < 0.005 {
		service *= 10 + 30*rng.Float64()
	}
	wait := 60 * rng.ExpFloat64()
	if stalled && at < 0.2 {
		wait += 40_000 * (1 - at/0.2)
	}
	raw := int64(math.Min(math.Max(service, 1), highest))
	return raw, int64(math.Min(float64(raw)+wait, highest))
}
