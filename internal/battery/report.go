package battery

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// CaseResult is one case's outcome.
type CaseResult struct {
	Name     string
	Duration time.Duration
	// Err is why the case failed; nil: passed.
	Err error
	// Counted lists the server's error and refusal counters that grew
	// during the case ("rtmp_errors_total{reason="protocol"} +1"): how
	// the server saw it.
	Counted []string
}

func (r *CaseResult) fail(err error) {
	if r.Err == nil {
		r.Err = err
	}
}

func (r CaseResult) result() string {
	if r.Err != nil {
		return "FAIL"
	}
	return "pass"
}

func (r CaseResult) detail() string {
	if r.Err != nil {
		return r.Err.Error()
	}
	return strings.Join(r.Counted, ", ")
}

func (r CaseResult) line() string {
	return fmt.Sprintf("%-4s %-36s %6.2fs  %s", r.result(), r.Name, r.Duration.Seconds(), r.detail())
}

// ViewerStats is what the clean viewer did.
type ViewerStats struct {
	Playlists int // media playlist responses
	Segments  int // segments and init segments fetched
	Bytes     int64
}

// Report is a run's outcome.
type Report struct {
	Started, Ended time.Time
	Cases          []CaseResult
	Baseline       Runtime
	After          Runtime       // after the cases, once settled (or at the deadline)
	Settled        time.Duration // how long the return to baseline took
	Viewer         ViewerStats
	// Problems are the failures outside any one case: the server, the
	// viewer, the return to baseline.
	Problems []string
}

// Failed returns the number of failed cases.
func (r *Report) Failed() int {
	n := 0
	for _, c := range r.Cases {
		if c.Err != nil {
			n++
		}
	}
	return n
}

// Passed reports whether every case passed and nothing else went wrong.
func (r *Report) Passed() bool { return r.Failed() == 0 && len(r.Problems) == 0 }

// WriteText writes the table of cases, the problems and a summary line.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tCASE\tTIME\tDETAIL")
	for _, c := range r.Cases {
		fmt.Fprintf(tw, "%s\t%s\t%.2fs\t%s\n", c.result(), c.Name, c.Duration.Seconds(), c.detail())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "PROBLEM: %s\n", p)
	}
	verdict := "PASS"
	if !r.Passed() {
		verdict = "FAIL"
	}
	_, err := fmt.Fprintf(w, "%s: %d cases, %d failed, %d other problems; goroutines %d -> %d, heap in use beyond media held %s -> %s (heap %s -> %s, settled in %.1fs); clean viewer: %d playlists, %d segments, no errors=%t; %.0fs\n",
		verdict, len(r.Cases), r.Failed(), len(r.Problems),
		r.Baseline.Goroutines, r.After.Goroutines, mib(r.Baseline.Overhead()), mib(r.After.Overhead()),
		mib(r.Baseline.HeapInuse), mib(r.After.HeapInuse), r.Settled.Seconds(),
		r.Viewer.Playlists, r.Viewer.Segments, !r.viewerFailed(), r.Ended.Sub(r.Started).Seconds())
	return err
}

func (r *Report) viewerFailed() bool {
	for _, p := range r.Problems {
		if strings.HasPrefix(p, "clean viewer") {
			return true
		}
	}
	return false
}
