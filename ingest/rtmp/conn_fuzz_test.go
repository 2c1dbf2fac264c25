package rtmp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzConn feeds arbitrary client byte streams (RTMP handshake, chunk
// stream, AMF0 commands, FLV tags) to a real Server, one connection per
// input, and checks that the server
//
//   - never panics out of its goroutines (a panic kills the fuzz worker);
//   - has finished with the connection within connFuzzTimeout after the
//     client closed it, by its own accounting (the connection wait group,
//     the connection set, liveorigin_rtmp_connections_active), and left no
//     goroutine behind;
//   - closed every publish session the connection opened, and counted the
//     end under a bounded errors_total reason;
//   - keeps serving: after every input, a valid publish gets through.
//
// With handshake set, the client sends a valid handshake (C0 C1 C2, 3073
// bytes that go-rtmp does not check beyond their length) before in, so
// that the fuzzer spends its mutations on what follows: chunks, commands
// and tags. Without, in is all the client sends.
//
// One server serves every input of a fuzz worker; an input that breaks it
// fails and gets a fresh server, so that minimisation runs on a healthy one.
//
// The connection is a scriptConn: the client sends the input, closes its
// sending side and reads whatever the server sends. It is deterministic,
// which coverage guidance needs: over net.Pipe, what the server sends races
// with the client's close, every run of an input covered a little
// differently, and the fuzzer spent its time minimising "interesting"
// inputs that were not. Publishers that go away while the server writes
// are the Test*Gone* tests below, over net.Pipe.
//
//	go test -run='^$' -fuzz=FuzzConn -fuzztime=180s ./ingest/rtmp
func FuzzConn(f *testing.F) {
	defaultMinimizeTime(f, time.Second)
	for _, seed := range connSeeds(f) {
		f.Add(seed.handshake, seed.in)
	}
	cf := newConnFuzzer(f)
	f.Cleanup(func() {
		if err := cf.close(); err != nil {
			f.Error(err)
		}
	})
	f.Fuzz(cf.run)
}

// defaultMinimizeTime sets -fuzzminimizetime unless it was given. Go
// minimises every input that finds new coverage, for up to a minute by
// default, and the inputs here are sessions of tens of kilobytes whose
// minimisation takes that minute: the workers spent most of their time
// minimising (5 s each: still most of a 3-minute run).
func defaultMinimizeTime(tb testing.TB, d time.Duration) {
	if fuzz := flag.Lookup("test.fuzz"); fuzz == nil || fuzz.Value.String() == "" {
		return // not fuzzing
	}
	const name = "test.fuzzminimizetime"
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	if set || flag.Lookup(name) == nil {
		return
	}
	if err := flag.Set(name, d.String()); err != nil {
		tb.Fatal(err)
	}
}

// connFuzzTimeout bounds how long the server may take to finish with a
// connection after the client has closed it.
const connFuzzTimeout = 5 * time.Second

// Client-to-server captures of real publish sessions under testdata/,
// rewritten by TestCaptureConnSeeds.
const (
	captureFFmpeg  = "conn_ffmpeg.bin"
	captureAVCAAC  = "conn_gortmp_avc_aac.bin"
	captureHVC1    = "conn_gortmp_hvc1.bin"
	maxCaptureSize = 100 << 10
	// captureName is the stream key of every capture.
	captureName = "seed"
)

// handshakeSize is C0+C1+C2.
const handshakeSize = 1 + 2*1536

// connFuzzer drives the fuzz inputs through one server at a time.
type connFuzzer struct {
	srv       *fuzzServer
	abandoned []*fuzzServer // broken by an input; closed at the end
	handshake []byte        // C0 C1 C2 of a real client
	liveness  []byte        // a valid publish session
}

func newConnFuzzer(tb testing.TB) *connFuzzer {
	return &connFuzzer{handshake: readCapture(tb, captureAVCAAC)[:handshakeSize], liveness: livenessSession(tb)}
}

// livenessSession is what go-rtmp's client sends to connect, create a
// stream and publish captureName, then the AVC and AAC sequence headers,
// a key frame and closeStream.
func livenessSession(tb testing.TB) []byte {
	c := readCapture(tb, captureAVCAAC)
	avc, aac := flvConfigs(tb)
	// connect, createStream, publish; the server answers the first
	// createStream with stream 1.
	const streamID = 1
	return join(c[:rtmpMessageEnds(c)[2]],
		rtmpMessage(csidVideo, 9, streamID, avc),
		rtmpMessage(csidAudio, 8, streamID, aac),
		rtmpMessage(csidVideo, 9, streamID, idrTag),
		rtmpMessage(csidCommand, 20, streamID, join(amfStr("closeStream"), amfNum(0), []byte{amfNull})))
}

// server returns the healthy server, starting one if needed.
func (cf *connFuzzer) server(t *testing.T) *fuzzServer {
	if cf.srv == nil {
		fs, err := startFuzzServer()
		if err != nil {
			t.Fatal(err)
		}
		cf.srv = fs
	}
	return cf.srv
}

func (cf *connFuzzer) run(t *testing.T, handshake bool, in []byte) {
	fs := cf.server(t)
	defer func() {
		if t.Failed() { // leave the broken server behind
			fs.abandon()
			cf.abandoned = append(cf.abandoned, fs)
			cf.srv = nil
		}
	}()
	goroutines := runtime.NumGoroutine()
	if handshake {
		in = join(cf.handshake, in)
	}
	res := fs.session(t, in, nil)
	if res.end.reason != "" && !slices.Contains(errorReasons, res.end.reason) {
		t.Fatalf("connection ended with reason %q, not a bounded label value", res.end.reason)
	}
	checkLiveness(t, fs, cf.liveness)
	waitGoroutines(t, goroutines)
}

// checkLiveness publishes a valid session and checks it got through whole.
func checkLiveness(t *testing.T, fs *fuzzServer, session []byte) {
	t.Helper()
	var out bytes.Buffer
	res := fs.session(t, session, &out)
	if !bytes.Contains(out.Bytes(), []byte("NetStream.Publish.Start")) {
		t.Fatal("liveness: a valid publish was not answered with NetStream.Publish.Start")
	}
	if len(res.sessions) != 1 || res.sessions[0].info.Name != captureName {
		t.Fatalf("liveness: %d publish sessions, want 1 named %q", len(res.sessions), captureName)
	}
	s := res.sessions[0]
	starts, aus := s.snapshot()
	if len(starts) != 1 || trackKinds(starts[0]) != "va" || len(aus) != 1 {
		t.Fatalf("liveness: %d Start calls (%v), %d access units; want one with video and audio, and 1",
			len(starts), starts, len(aus))
	}
	if cause := s.waitClosed(t); cause != nil || res.end.reason != "" || res.end.cause != nil {
		t.Fatalf("liveness: session closed with %v, connection ended with %q: %v; want a clean unpublish",
			cause, res.end.reason, res.end.cause)
	}
}

// waitGoroutines waits for the goroutines of a finished connection (go-rtmp
// returns from them just after closing the connection) to be gone.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(connFuzzTimeout)
	for i := 0; runtime.NumGoroutine() > want; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left behind; goroutines:\n%s", runtime.NumGoroutine()-want, rtmpGoroutines())
		}
		if i < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(100 * time.Microsecond)
		}
	}
}

func (cf *connFuzzer) close() error {
	var errs []error
	for _, fs := range append(cf.abandoned, cf.srv) {
		if fs != nil {
			errs = append(errs, fs.close())
		}
	}
	return errors.Join(errs...)
}

// fuzzServer is a Server whose listener hands out the connections its
// session methods make.
type fuzzServer struct {
	*Server
	pub    *fakePublisher
	ln     *connListener
	served chan error

	mu   sync.Mutex
	ends []connEnd

	abandoned atomic.Bool // broken by an input
}

func startFuzzServer() (*fuzzServer, error) {
	pub := newFakePublisher()
	s, err := New(Options{Addr: "in-memory", Publisher: pub})
	if err != nil {
		return nil, err
	}
	cl := newConnListener()
	s.ln = &listener{Listener: cl, s: s, done: make(chan struct{})}
	fs := &fuzzServer{Server: s, pub: pub, ln: cl, served: make(chan error, 1)}
	s.onConnEnd = func(remote, reason string, cause error) {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		fs.ends = append(fs.ends, connEnd{remote, reason, cause})
	}
	go func() { fs.served <- s.Serve() }()
	if err := cl.waitAccepting(time.Now().Add(connFuzzTimeout)); err != nil {
		_ = fs.close()
		return nil, err
	}
	return fs, nil
}

// startMemServer starts a fuzzServer for a test, closed at its end.
func startMemServer(t *testing.T) *fuzzServer {
	t.Helper()
	fs, err := startFuzzServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := fs.close(); err != nil {
			t.Error(err)
		}
	})
	return fs
}

// abandon marks a server broken by an input.
func (fs *fuzzServer) abandon() { fs.abandoned.Store(true) }

// close closes the server within a bound: a broken server may never close.
func (fs *fuzzServer) close() error {
	closed := make(chan error, 1)
	go func() { closed <- fs.Close() }()
	timer := time.NewTimer(connFuzzTimeout)
	defer timer.Stop()
	select {
	case err := <-closed:
		if err != nil {
			return err
		}
	case <-timer.C:
		if fs.abandoned.Load() {
			return nil // it has failed its test already
		}
		return fmt.Errorf("Server.Close did not return within %s; goroutines:\n%s", connFuzzTimeout, rtmpGoroutines())
	}
	select {
	case err := <-fs.served:
		return err
	case <-timer.C:
		return errors.New("Serve did not return after Close")
	}
}

// session runs a connection over a scriptConn: the client sends in, closes
// its sending side and reads what the server sends into out (if not nil).
func (fs *fuzzServer) session(t *testing.T, in []byte, out io.Writer) sessionResult {
	t.Helper()
	r := fs.start(t, &scriptConn{in: in, out: out})
	return r.finish(t)
}

// pipeSession runs a connection over net.Pipe: the client sends in and
// closes the connection as soon as the server has read it, whatever the
// server sends.
func (fs *fuzzServer) pipeSession(t *testing.T, in []byte) sessionResult {
	t.Helper()
	srv, cli := net.Pipe()
	r := fs.start(t, srv)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		_, _ = io.Copy(io.Discard, cli)
	}()
	_ = cli.SetWriteDeadline(r.deadline)
	_, err := cli.Write(in)
	_ = cli.Close()
	<-drained
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server neither read the input nor closed the connection within %s; goroutines:\n%s",
			connFuzzTimeout, rtmpGoroutines())
	}
	return r.finish(t)
}

// connRun is a connection being served.
type connRun struct {
	fs       *fuzzServer
	deadline time.Time
	sessions *sessionCollector
}

// sessionResult is what a connection did.
type sessionResult struct {
	sessions []*fakeSession
	end      connEnd
}

// start hands the server the server's end of a connection; it fails t if
// the server does not take it.
func (fs *fuzzServer) start(t *testing.T, nc net.Conn) *connRun {
	t.Helper()
	fs.mu.Lock()
	fs.ends = nil
	fs.mu.Unlock()
	r := &connRun{fs: fs, deadline: time.Now().Add(connFuzzTimeout), sessions: collectSessions(fs.pub)}
	if err := fs.ln.dial(nc, r.deadline); err != nil {
		r.sessions.stop()
		t.Fatalf("the server does not accept: %v", err)
	}
	return r
}

// finish waits until the server has finished with the connection, the
// client having closed it, and checks the server's accounting.
func (r *connRun) finish(t *testing.T) sessionResult {
	t.Helper()
	defer r.sessions.stop()
	fs := r.fs
	if err := fs.waitIdle(r.deadline); err != nil {
		t.Fatalf("%v; goroutines:\n%s", err, rtmpGoroutines())
	}
	var res sessionResult
	fs.mu.Lock()
	ends := fs.ends
	fs.mu.Unlock()
	if len(ends) != 1 {
		t.Fatalf("%d connection ends reported, want 1", len(ends))
	}
	res.end = ends[0]
	fs.Server.mu.Lock()
	tracked := len(fs.conns)
	fs.Server.mu.Unlock()
	if active := metricValue(t, fs.metrics.connectionsActive); tracked != 0 || active != 0 {
		t.Fatalf("%d connections tracked, connections_active %v after the connection ended", tracked, active)
	}
	res.sessions = r.sessions.stop()
	for _, s := range res.sessions {
		select {
		case <-s.done:
		default:
			t.Fatalf("publish session %q left open after its connection ended", s.info.Name)
		}
	}
	fs.pub.mu.Lock()
	live := len(fs.pub.live)
	fs.pub.mu.Unlock()
	if live != 0 {
		t.Fatalf("%d streams still live after the connection ended", live)
	}
	return res
}

// waitIdle waits, until deadline, for the server to have finished with
// every connection: go-rtmp closed it (after its writers and our OnClose)
// and the server stopped tracking it.
func (fs *fuzzServer) waitIdle(deadline time.Time) error {
	idle := make(chan struct{})
	go func() {
		fs.connWG.Wait()
		close(idle)
	}()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-idle:
		return nil
	case <-timer.C:
		return fmt.Errorf("the server had not finished with the connection %s after the client closed it", connFuzzTimeout)
	}
}

// sessionCollector gathers the sessions the publisher hands out: Publish
// sends them on a small channel, holding the publisher's lock.
type sessionCollector struct {
	stopCh    chan struct{}
	collected chan []*fakeSession
	once      sync.Once
	sessions  []*fakeSession
}

func collectSessions(pub *fakePublisher) *sessionCollector {
	c := &sessionCollector{stopCh: make(chan struct{}), collected: make(chan []*fakeSession, 1)}
	go func() {
		var ss []*fakeSession
		for {
			select {
			case s := <-pub.sessions:
				ss = append(ss, s)
			case <-c.stopCh:
				for {
					select {
					case s := <-pub.sessions:
						ss = append(ss, s)
					default:
						c.collected <- ss
						return
					}
				}
			}
		}
	}()
	return c
}

// stop ends the collection and returns the sessions; it may be called
// again.
func (c *sessionCollector) stop() []*fakeSession {
	c.once.Do(func() {
		close(c.stopCh)
		c.sessions = <-c.collected
	})
	return c.sessions
}

// rtmpGoroutines returns the stacks of the goroutines in go-rtmp and in
// this package, to show where a connection hangs.
func rtmpGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var keep []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "yutopp/go-rtmp") || strings.Contains(g, "liveorigin/ingest/rtmp.") {
			keep = append(keep, g)
		}
	}
	return strings.Join(keep, "\n\n")
}

// scriptConn is the server's end of a connection whose client sends its
// input, closes its sending side (the server reads EOF after the input),
// and reads all the server sends until the server closes. It never blocks,
// and what the server reads does not depend on timing.
type scriptConn struct {
	mu     sync.Mutex
	in     []byte
	out    io.Writer // nil: discard
	closed bool
}

func (c *scriptConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *scriptConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if c.out != nil {
		return c.out.Write(p)
	}
	return len(p), nil
}

func (c *scriptConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *scriptConn) LocalAddr() net.Addr              { return memAddr{} }
func (c *scriptConn) RemoteAddr() net.Addr             { return memAddr{} }
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

type memAddr struct{}

func (memAddr) Network() string { return "memory" }
func (memAddr) String() string  { return "memory" }

// connListener is a net.Listener of the connections handed to dial.
//
// It also tells when the server has taken a connection on: go-rtmp calls
// Accept again only after our listener wrapper has returned the previous
// connection, tracked (connWG.Add) and its goroutine started. So between
// two dials the server is blocked in Accept, waiting for the next
// connection, and dial returns once it is back there.
type connListener struct {
	conns     chan net.Conn
	accepting chan struct{}
	done      chan struct{}
	once      sync.Once
}

func newConnListener() *connListener {
	return &connListener{conns: make(chan net.Conn), accepting: make(chan struct{}), done: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case l.accepting <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return memAddr{} }

// waitAccepting waits for the server to call Accept.
func (l *connListener) waitAccepting(deadline time.Time) error {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-l.accepting:
		return nil
	case <-l.done:
		return net.ErrClosed
	case <-timer.C:
		return errors.New("the server does not call Accept")
	}
}

// dial hands the server nc and returns once the server has tracked it.
func (l *connListener) dial(nc net.Conn, deadline time.Time) error {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case l.conns <- nc:
	case <-l.done:
		return net.ErrClosed
	case <-timer.C:
		return errors.New("the server does not take a connection")
	}
	return l.waitAccepting(deadline)
}

// connSeed is a FuzzConn input.
type connSeed struct {
	handshake bool // a valid handshake precedes in
	in        []byte
}

// connSeeds are real sessions (ffmpeg, go-rtmp's client with legacy and
// enhanced tags), truncations of them at and inside their first messages,
// truncated handshakes, and hostile streams after a valid handshake.
func connSeeds(tb testing.TB) []connSeed {
	var seeds []connSeed
	add := func(handshake bool, in ...[]byte) {
		seeds = append(seeds, connSeed{handshake, join(in...)})
	}
	captures := [][]byte{readCapture(tb, captureFFmpeg), readCapture(tb, captureAVCAAC), readCapture(tb, captureHVC1)}
	for _, c := range captures {
		ends := rtmpMessageEnds(c)
		if len(ends) < 8 || len(c) < maxCaptureSize && ends[len(ends)-1] != len(c) {
			tb.Fatalf("a capture of %d bytes has %d messages: not a whole RTMP session?", len(c), len(ends))
		}
		add(true, c[handshakeSize:])
		add(true, c[handshakeSize:len(c)/2])
		for _, e := range ends[:8] {
			add(true, c[handshakeSize:e])
			add(true, c[handshakeSize:e-1])
		}
	}
	c := captures[1]
	ends := rtmpMessageEnds(c)
	connected := c[handshakeSize:ends[1]] // connect, createStream
	published := c[handshakeSize:ends[2]] // and publish
	// Whole streams, handshake included, and cut in the handshake.
	add(false, captures[2])
	add(false, nil)
	add(false, c[:1])
	add(false, c[:1+1536])
	add(false, c[:handshakeSize])
	// Hostile streams after the handshake.
	add(true, garbage(4096))
	// fmt 0 on chunk stream 3, message length 0: go-rtmp panics.
	add(true, cat("03 000000 000000 14 00000000"))
	// A publish whose name is a number.
	add(true, connected, rtmpMessage(csidCommand, 20, 1, join(amfStr("publish"), amfNum(0), []byte{amfNull}, amfNum(42))))
	// An acknowledgement asked for every byte, a chunk size of 1, and a
	// message in 1-byte chunks.
	add(true, published,
		rtmpMessage(2, 5, 0, cat("00000001")),
		rtmpMessage(2, 1, 0, cat("00000001")),
		cat("04 000000 000020 12 01000000 00", strings.Repeat("c4 00", 31)))
	// Media without a publish, and a second publish.
	add(true, connected, rtmpMessage(csidVideo, 9, 1, idrTag))
	add(true, published, rtmpMessage(csidCommand, 20, 1, join(amfStr("publish"), amfNum(0), []byte{amfNull}, amfStr("other"))))
	return seeds
}

// rtmpMessage encodes a message in chunks of RTMP's default size (128):
// a type 0 chunk, then type 3 ones. csid is 2 to 63.
func rtmpMessage(csid int, typeID byte, streamID uint32, body []byte) []byte {
	n := len(body)
	b := []byte{byte(csid), 0, 0, 0, byte(n >> 16), byte(n >> 8), byte(n), typeID}
	b = binary.LittleEndian.AppendUint32(b, streamID)
	for i := 0; ; i += 128 {
		b = append(b, body[i:min(i+128, n)]...)
		if i+128 >= n {
			return b
		}
		b = append(b, 0xc0|byte(csid))
	}
}

func readCapture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatalf("%v (TestCaptureConnSeeds -capture-conn-seeds writes it)", err)
	}
	return b
}

// rtmpMessageEnds returns the offsets at which messages end in a client's
// byte stream (C0 C1 C2, then chunks), following the client's chunk size.
// Chunks of different chunk streams interleave, so an offset may cut
// another message. It is meant for the captures, not for hostile input.
func rtmpMessageEnds(b []byte) []int {
	type chunkStream struct {
		length, typ, remaining int
		extTS                  bool
	}
	streams := map[int]*chunkStream{}
	chunkSize := 128
	var ends []int
	for pos := handshakeSize; pos < len(b); {
		format, csid := int(b[pos]>>6), int(b[pos]&0x3f)
		pos++
		switch csid {
		case 0:
			if pos+1 > len(b) {
				return ends
			}
			csid = 64 + int(b[pos])
			pos++
		case 1:
			if pos+2 > len(b) {
				return ends
			}
			csid = 64 + int(b[pos]) + 256*int(b[pos+1])
			pos += 2
		}
		cs := streams[csid]
		if cs == nil {
			cs = &chunkStream{}
			streams[csid] = cs
		}
		hdr := []int{11, 7, 3, 0}[format]
		if pos+hdr > len(b) {
			return ends
		}
		h := b[pos : pos+hdr]
		if format <= 2 {
			cs.extTS = h[0] == 0xff && h[1] == 0xff && h[2] == 0xff
		}
		if format <= 1 {
			cs.length, cs.typ = int(h[3])<<16|int(h[4])<<8|int(h[5]), int(h[6])
		}
		pos += hdr
		if cs.extTS {
			pos += 4
		}
		if cs.remaining == 0 {
			cs.remaining = cs.length
		}
		n := min(cs.remaining, chunkSize)
		if pos+n > len(b) {
			return ends
		}
		payload := b[pos : pos+n]
		pos += n
		cs.remaining -= n
		if cs.remaining == 0 {
			ends = append(ends, pos)
			if cs.typ == 1 && cs.length == 4 { // SetChunkSize
				chunkSize = int(binary.BigEndian.Uint32(payload) & 0x7fffffff)
			}
		}
	}
	return ends
}

var captureConnSeeds = flag.Bool("capture-conn-seeds", false, "rewrite the FuzzConn captures under testdata/")

// TestCaptureConnSeeds records, through a TCP proxy, what ffmpeg and the
// go-rtmp client of the wire tests send when they publish, and writes it
// under testdata/ for FuzzConn:
//
//	go test ./ingest/rtmp -run=TestCaptureConnSeeds -args -capture-conn-seeds
func TestCaptureConnSeeds(t *testing.T) {
	if !*captureConnSeeds {
		t.Skip("run with -capture-conn-seeds to rewrite the FuzzConn captures")
	}
	needFFmpeg(t)
	ts := startServer(t, Options{})
	save := func(name string, b []byte) {
		t.Helper()
		s := ts.pub.nextSession(t)
		if cause := s.waitClosed(t); cause != nil {
			t.Fatalf("%s: session closed with %v", name, cause)
		}
		if _, aus := s.snapshot(); len(aus) == 0 {
			t.Fatalf("%s: no access unit published", name)
		}
		if e := ts.nextEnd(t); e.reason != "" {
			t.Fatalf("%s: connection ended with %q: %v", name, e.reason, e.cause)
		}
		if len(b) > maxCaptureSize {
			b = b[:maxCaptureSize]
		}
		if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes, %d messages", name, len(b), len(rtmpMessageEnds(b)))
	}

	save(captureFFmpeg, recordSession(t, ts.addr, func(addr string) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, ffmpegPath, "-hide_banner", "-nostdin", "-loglevel", "error",
			"-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=15", "-f", "lavfi", "-i", "sine", "-t", "1",
			"-c:v", "libx264", "-g", "15", "-c:a", "aac", "-f", "flv", "rtmp://"+addr+"/live/"+captureName).CombinedOutput()
		if err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
	}))

	save(captureAVCAAC, recordSession(t, ts.addr, func(addr string) {
		c := publish(t, addr, "live", captureName)
		c.sendFLV(t, readFLV(t, "h264_aac.flv"))
		if err := c.unpublish(); err != nil {
			t.Fatal(err)
		}
		_ = c.cc.Close()
	}))

	save(captureHVC1, recordSession(t, ts.addr, func(addr string) {
		rec, samples := readMP4Video(t, "hevc.mp4")
		c := publish(t, addr, "live", captureName)
		meta := join(amfStr("onMetaData"), amfObj(amfObject, prop("videocodecid", amfNum(fourCCNum("hvc1")))))
		if err := c.metadata(meta); err != nil {
			t.Fatal(err)
		}
		if err := c.video(0, exSequenceStartTag("hvc1", rec)); err != nil {
			t.Fatal(err)
		}
		for _, smp := range samples {
			if err := c.video(uint32(smp.dts), exFrameTag("hvc1", smp)); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.unpublish(); err != nil {
			t.Fatal(err)
		}
		_ = c.cc.Close()
	}))
}

// recordSession runs client against a one-connection TCP proxy in front of
// serverAddr and returns what the client sent.
func recordSession(t *testing.T, serverAddr string, client func(addr string)) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	recorded := make(chan []byte, 1)
	go func() {
		var rec bytes.Buffer
		defer func() { recorded <- rec.Bytes() }()
		cc, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { _ = cc.Close() }()
		sc, err := net.Dial("tcp", serverAddr)
		if err != nil {
			return
		}
		back := make(chan struct{})
		go func() {
			defer close(back)
			_, _ = io.Copy(cc, sc)
		}()
		_, _ = io.Copy(io.MultiWriter(sc, &rec), cc) // until the client closes
		_ = sc.Close()
		<-back
	}()
	client(ln.Addr().String())
	select {
	case b := <-recorded:
		return b
	case <-time.After(waitTimeout):
		t.Fatal("the client did not close its connection")
		return nil
	}
}

// TestPublisherGoneTeardown: a publisher that goes away while the server
// still has replies to send is let go at once, without an error. go-rtmp's
// writer goroutine stopped at the first failed write, every reply queued
// after that kept Conn.Close waiting 3 s for it, and the end counted as a
// protocol error.
func TestPublisherGoneTeardown(t *testing.T) {
	fs := startMemServer(t)
	for _, name := range []string{captureFFmpeg, captureAVCAAC} {
		start := time.Now()
		res := fs.pipeSession(t, readCapture(t, name))
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: the server took %s to let a gone publisher go", name, d)
		}
		if res.end.reason != "" {
			t.Errorf("%s: a publisher that went away counted as an error %q: %v", name, res.end.reason, res.end.cause)
		}
	}
}

// TestPublisherGoneWithAcksPending: a publisher asks for an acknowledgement
// every byte, stops reading, sends a long message in 1-byte chunks and goes
// away. go-rtmp's writer goroutine stopped at the failed write, and its
// queue (64 entries) filled up with acknowledgements nobody would write:
// the connection goroutine blocked for ever, and Server.Close with it.
func TestPublisherGoneWithAcksPending(t *testing.T) {
	fs := startMemServer(t)
	c := readCapture(t, captureAVCAAC)
	in := join(c[:rtmpMessageEnds(c)[0]], // the handshake and connect
		rtmpMessage(2, 5, 0, cat("00000001")), // window acknowledgement size 1
		rtmpMessage(2, 1, 0, cat("00000001")), // chunk size 1
		cat("04 000000 000100 12 00000000 00", strings.Repeat("c4 00", 255)))

	// Where the reply to connect starts, after the handshake and the
	// control messages, in what the server sends to a reading client.
	var out bytes.Buffer
	fs.session(t, in, &out)
	replyAt := bytes.Index(out.Bytes(), join(amfStr("_result"), amfNum(1))) - 12 // after a type 0 chunk header
	if replyAt < handshakeSize {
		t.Fatalf("no reply to connect in %d bytes", out.Len())
	}

	srv, cli := net.Pipe()
	r := fs.start(t, srv)
	wrote := make(chan error, 1)
	go func() {
		_, err := cli.Write(in)
		wrote <- err
	}()
	// Read up to the reply, then stop: the server's writer blocks on it,
	// and the connection goroutine, having queued an acknowledgement for
	// the first chunk, waits for it to be written before the next one.
	if _, err := io.ReadFull(cli, make([]byte, replyAt)); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	waitForGoroutine(t, "[select", "(*ChunkStreamWriter).Wait", "(*ChunkStreamer).sendAck")
	_ = cli.Close()
	if err := fs.waitIdle(r.deadline); err != nil {
		fs.abandon()
		t.Fatalf("%v; goroutines:\n%s", err, rtmpGoroutines())
	}
	r.finish(t)
}

// TestPanicAfterPublisherGone: go-rtmp panicking on what a publisher sent
// before going away counts as a panic.
func TestPanicAfterPublisherGone(t *testing.T) {
	fs := startMemServer(t)
	hs := readCapture(t, captureAVCAAC)[:handshakeSize]
	// fmt 0 on chunk stream 3, message length 0: go-rtmp panics.
	res := fs.pipeSession(t, join(hs, cat("03 000000 000000 14 00000000")))
	if res.end.reason != reasonPanic {
		t.Errorf("connection ended with %q: %v; want %q", res.end.reason, res.end.cause, reasonPanic)
	}
	if got := metricValue(t, fs.metrics.errors.WithLabelValues(reasonPanic)); got != 1 {
		t.Errorf("errors_total{reason=panic} = %v, want 1", got)
	}
}

// waitForGoroutine waits until a goroutine's stack has the strings, in
// order: its state ("[select"), then functions, callee first.
func waitForGoroutine(t *testing.T, stack ...string) {
	t.Helper()
	deadline := time.Now().Add(connFuzzTimeout)
	for time.Now().Before(deadline) {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			rest, ok := g, true
			for _, s := range stack {
				if _, rest, ok = strings.Cut(rest, s); !ok {
					break
				}
			}
			if ok {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no goroutine in %q; goroutines:\n%s", stack, rtmpGoroutines())
}
