package limits

import (
	"github.com/liveorigin/liveorigin/internal/testkit"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a Hits with its registry and log.
type env struct {
	hits *Hits
	reg  *prometheus.Registry
	logs *syncBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	e.hits = NewHits(slog.New(slog.NewJSONHandler(e.logs, nil)), e.reg)
	return e
}

// count is liveorigin_limit_hits_total{limit}.
func (e *env) count(t *testing.T, limit string) float64 {
	t.Helper()
	return e.hits.Count(limit)
}

// logLines are the log lines that contain every one of want.
func (e *env) logLines(want ...string) []string {
	var out []string
lines:
	for _, l := range strings.Split(e.logs.String(), "\n") {
		for _, w := range want {
			if !strings.Contains(l, w) {
				continue lines
			}
		}
		out = append(out, l)
	}
	return out
}

type syncBuffer = testkit.SyncBuffer
