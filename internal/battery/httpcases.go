package battery

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// rawHTTP sends request as written (no client cleans its path) and
// returns the response status; 0 with a nil error: the server closed the
// connection without one.
func rawHTTP(ctx context.Context, addr, request string) (int, string, error) {
	c, err := dial(ctx, addr)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	writeAll(c, []byte(request))
	if !strings.Contains(request, "\r\n\r\n") {
		// Never a whole request: the server would wait for the rest (up
		// to its header timeout); end it.
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(closeTimeout))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, "", fmt.Errorf("no answer within %v", closeTimeout)
		}
		return 0, "", nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(body), nil
}

func get(path string, headers ...string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: battery\r\n" + strings.Join(append(headers, "Connection: close"), "\r\n") + "\r\n\r\n"
}

// httpExpect is a case that sends requests and wants each answered with
// one of the statuses in want (0: the connection closed without an
// answer is fine too).
func httpExpect(name string, want []int, requests func(e *env) []string) hostileCase {
	return hostileCase{name: "http/" + name, run: func(ctx context.Context, e *env) error {
		var errs []error
		for _, req := range requests(e) {
			code, body, err := rawHTTP(ctx, e.http, req)
			line, _, _ := strings.Cut(req, "\r\n")
			if len(line) > 100 {
				line = line[:100] + "..."
			}
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s: %w", line, err))
			case strings.Contains(body, "root:"):
				errs = append(errs, fmt.Errorf("%s: answered %d with what looks like /etc/passwd", line, code))
			case !containsInt(want, code):
				errs = append(errs, fmt.Errorf("%s: answered %d, want one of %v", line, code, want))
			}
		}
		return errors.Join(errs...)
	}}
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func httpCases() []hostileCase {
	notFound := []int{400, 404, 301, 308}
	tooBig := []int{0, 400, 414, 431}
	badRequest := []int{400}
	return []hostileCase{
		httpExpect("path-traversal", notFound, func(e *env) []string {
			var reqs []string
			for _, p := range []string{
				"/live/../../../../etc/passwd", "/live/" + e.clean + "/../../../etc/passwd",
				"/live/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/live/" + e.clean + "/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
				"/live/" + e.clean + "/..%2f..%2f..%2fetc%2fpasswd", "/live/..%5c..%5c..%5cetc%5cpasswd",
				"/..;/..;/etc/passwd", "//etc/passwd", "/live/" + e.clean + "/v0/%2e%2e%2f%2e%2e%2findex.m3u8%00.m4s",
				"/live/%00/index.m3u8", "/live/" + e.clean + "/v0/..%252f..%252fetc%252fpasswd",
			} {
				reqs = append(reqs, get(p))
			}
			return reqs
		}),
		httpExpect("oversized-query", tooBig, func(e *env) []string {
			return []string{get(mediaPath(e) + "?x=" + strings.Repeat("a", 2<<20))}
		}),
		httpExpect("long-query-under-the-header-limit", []int{200}, func(e *env) []string {
			return []string{get(mediaPath(e) + "?x=" + strings.Repeat("a", 8<<10))}
		}),
		httpExpect("oversized-header", tooBig, func(e *env) []string {
			return []string{get(mediaPath(e), "X-Big: "+strings.Repeat("b", 2<<20))}
		}),
		httpExpect("many-headers", []int{0, 200, 400, 431}, func(e *env) []string {
			hs := make([]string, 30000)
			for i := range hs {
				hs[i] = fmt.Sprintf("X-H%d: v", i)
			}
			return []string{get(mediaPath(e), hs...)}
		}),
		httpExpect("hls-msn-far-future", badRequest, func(e *env) []string {
			return []string{get(mediaPath(e) + "?_HLS_msn=999999999"), get(mediaPath(e) + "?_HLS_msn=4000000000&_HLS_part=0")}
		}),
		httpExpect("hls-msn-negative", badRequest, func(e *env) []string {
			return []string{get(mediaPath(e) + "?_HLS_msn=-1"), get(mediaPath(e) + "?_HLS_msn=-9223372036854775808"), get(mediaPath(e) + "?_HLS_msn=1&_HLS_part=-1")}
		}),
		httpExpect("hls-msn-huge", badRequest, func(e *env) []string {
			return []string{get(mediaPath(e) + "?_HLS_msn=99999999999999999999999999"), get(mediaPath(e) + "?_HLS_msn=18446744073709551615"),
				get(mediaPath(e) + "?_HLS_msn=1e9"), get(mediaPath(e) + "?_HLS_msn=0x10"), get(mediaPath(e) + "?_HLS_msn=")}
		}),
		httpExpect("hls-part-without-msn", badRequest, func(e *env) []string {
			return []string{get(mediaPath(e) + "?_HLS_part=1"), get(mediaPath(e) + "?_HLS_part=999999999999999")}
		}),
		httpExpect("hls-skip-and-msn-repeated", []int{200, 400}, func(e *env) []string {
			return []string{get(mediaPath(e) + "?_HLS_skip=YES&_HLS_skip=v2"), get(mediaPath(e) + "?_HLS_msn=1&_HLS_msn=2")}
		}),
		httpExpect("unknown-stream-and-rendition", []int{404}, func(e *env) []string {
			return []string{get("/live/battery-no-such-stream/index.m3u8"), get("/live/" + e.clean + "/v99.m3u8"),
				get("/live/" + e.clean + "/v0/999999999999999999999.m4s")}
		}),
		{name: "http/blocking-reload-flood", timeout: 60 * time.Second, run: blockingFlood},
		{name: "http/range-abuse", run: rangeAbuse},
		httpExpect("bad-request-lines", []int{0, 400, 405, 501, 505}, func(e *env) []string {
			return []string{"GET\r\n\r\n", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", "FROB /live/" + e.clean + "/index.m3u8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
				"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + strings.Repeat("\x00", 100),
				"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00"}
		}),
	}
}

// rangeAbuse asks for a segment of the clean stream with Range headers
// no player sends: each must be answered 200, 206 or 416.
func rangeAbuse(ctx context.Context, e *env) error {
	code, body, err := rawHTTP(ctx, e.http, get("/live/"+e.clean+"/v0.m3u8"))
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("GET v0.m3u8: %d %v", code, err)
	}
	segs := reSegmentLine.FindAllString(body, -1)
	if len(segs) == 0 {
		return errors.New("v0.m3u8 lists no segment")
	}
	path := "/live/" + e.clean + "/" + strings.TrimSpace(segs[0])
	many := make([]string, 2000)
	for i := range many {
		many[i] = fmt.Sprintf("%d-%d", i, i)
	}
	var errs []error
	for _, r := range []string{
		"bytes=" + strings.Join(many, ","), "bytes=0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0,0-0",
		"bytes=-0", "bytes=5-1", "bytes=99999999999999999999-", "bytes=-99999999999999999999", "bytes=0--1",
		"bytes=", "furlongs=0-1", "bytes=0-1,-", "bytes=1-0,",
	} {
		code, _, err := rawHTTP(ctx, e.http, get(path, "Range: "+r))
		label := r
		if len(label) > 40 {
			label = label[:40] + "..."
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("Range %s: %w", label, err))
		} else if code != 200 && code != 206 && code != 416 {
			errs = append(errs, fmt.Errorf("Range %s: answered %d", label, code))
		}
	}
	return errors.Join(errs...)
}

// mediaPath is the clean stream's video playlist.
func mediaPath(e *env) string { return "/live/" + e.clean + "/v0.m3u8" }
