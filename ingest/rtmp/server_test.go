package rtmp

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// connEnd is how a connection ended, reported by the test hook.
type connEnd struct {
	remote string
	reason string
	cause  error
}

// testServer runs a Server on 127.0.0.1:0 and reports every ended
// connection on ends.
type testServer struct {
	*Server
	pub  *fakePublisher
	reg  *prometheus.Registry
	addr string
	ends chan connEnd
}

func startServer(t *testing.T, o Options) *testServer {
	t.Helper()
	ts := &testServer{pub: newFakePublisher(), reg: prometheus.NewRegistry(), ends: make(chan connEnd, 64)}
	if o.Publisher == nil {
		o.Publisher = ts.pub
	}
	o.Addr = "127.0.0.1:0"
	o.Registerer = ts.reg
	if testing.Verbose() {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.onConnEnd = func(remote, reason string, cause error) {
		ts.ends <- connEnd{remote, reason, cause}
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ts.Server, ts.addr = s, s.Addr().String()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Serve(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		wg.Wait()
	})
	return ts
}

// nextEnd waits for a connection to end.
func (ts *testServer) nextEnd(t testing.TB) connEnd {
	t.Helper()
	select {
	case e := <-ts.ends:
		return e
	case <-time.After(waitTimeout):
		t.Fatal("no connection ended")
		return connEnd{}
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New without Publisher: no error")
	}
	if _, err := New(Options{Publisher: newFakePublisher(), ReadTimeout: -time.Second}); err == nil {
		t.Error("negative ReadTimeout: no error")
	}
	reg := prometheus.NewRegistry()
	if _, err := New(Options{Publisher: newFakePublisher(), Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Publisher: newFakePublisher(), Registerer: reg}); err == nil {
		t.Error("registering the metrics twice: no error")
	}
}

func TestCloseWithoutServe(t *testing.T) {
	s, err := New(Options{Publisher: newFakePublisher(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close: %v, want ErrServerClosed", err)
	}
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Error("still listening after Close")
	}
}

// metricValue reads a counter or gauge (prometheus/testutil would need a
// module that go.sum does not have).
func metricValue(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatal(err)
	}
	if c := pb.GetCounter(); c != nil {
		return c.GetValue()
	}
	return pb.GetGauge().GetValue()
}
