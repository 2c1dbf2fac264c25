package origin

import (
	"net/http"
	"testing"
	"time"
)

// TestGoneStreamsForgotten: the rendered documents of a stream that is
// gone, and with them its last timeline and the window's segments, are
// forgotten by the next playback request after sweepEvery, whichever
// stream it asks for. Before, a stream viewed until it ended and never
// asked for again kept its last window in memory for good (found by the
// hostile-input battery: heap above the baseline after every stream had
// gone).
func TestGoneStreamsForgotten(t *testing.T) {
	f := newFixture(t)
	f.publish(t)
	f.feed(t, 4*time.Second)
	if resp := f.do(t, "GET", "/live/demo/v0.m3u8"); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /live/demo/v0.m3u8: %d", resp.StatusCode)
	}
	held := func() bool { _, ok := f.server.cache.streams.Load("demo"); return ok }
	if !held() {
		t.Fatal("no documents held for a stream being viewed")
	}
	if _, err := f.registry.Takedown("demo", 0); err != nil {
		t.Fatal(err)
	}
	// A request for another stream within sweepEvery of the last sweep
	// leaves them; one after it forgets them.
	f.do(t, "GET", "/live/other/index.m3u8")
	f.clock.Advance(sweepEvery)
	f.do(t, "GET", "/live/other/index.m3u8")
	if held() {
		t.Error("the documents of a stream gone for a sweep interval are still held")
	}
}
