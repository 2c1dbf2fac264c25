package battery

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"
)

var (
	reMediaSequence = regexp.MustCompile(`#EXT-X-MEDIA-SEQUENCE:(\d+)`)
	reSegmentLine   = regexp.MustCompile(`(?m)^[^#\s][^\s]*\.m4s\s*$`)
)

// nextMSN reads the clean stream's video playlist and returns the media
// sequence number of the segment after its last one.
func nextMSN(ctx context.Context, e *env) (int, error) {
	code, body, err := rawHTTP(ctx, e.http, get("/live/"+e.clean+"/v0.m3u8"))
	if err != nil || code != http.StatusOK {
		return 0, fmt.Errorf("GET v0.m3u8: %d %v", code, err)
	}
	m := reMediaSequence.FindStringSubmatch(body)
	if m == nil {
		return 0, errors.New("v0.m3u8 has no EXT-X-MEDIA-SEQUENCE")
	}
	seq, _ := strconv.Atoi(m[1])
	return seq + len(reSegmentLine.FindAllString(body, -1)), nil
}

// blockingFlood holds many blocking playlist reloads for the clean
// stream's next segment at once, drops half of them while they wait, and
// wants every other one answered 200 once the segment is there.
func blockingFlood(ctx context.Context, e *env) error {
	msn, err := nextMSN(ctx, e)
	if err != nil {
		return err
	}
	n := e.count(2000, 500)
	req := get("/live/" + e.clean + "/v0.m3u8?_HLS_msn=" + strconv.Itoa(msn))
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range n {
		c, err := dial(ctx, e.http)
		if err != nil {
			return fmt.Errorf("%d blocking requests open, the next failed: %w", len(conns), err)
		}
		conns = append(conns, c)
		writeAll(c, []byte(req))
	}
	// Half of them give up while they wait.
	for i := 0; i < len(conns); i += 2 {
		_ = conns[i].Close()
	}
	var mu sync.Mutex
	var bad []string
	var wg sync.WaitGroup
	for i := 1; i < len(conns); i += 2 {
		c := conns[i]
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				_ = resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				mu.Lock()
				if len(bad) < 5 {
					bad = append(bad, fmt.Sprintf("%v %v", statusOf(resp), err))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(bad) > 0 {
		return fmt.Errorf("blocking reloads for _HLS_msn=%d not answered 200: %v", msn, bad)
	}
	return nil
}

func statusOf(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	return resp.Status
}
