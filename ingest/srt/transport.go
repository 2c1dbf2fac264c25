package srt

import (
	"errors"
	"log/slog"
	"net"
	"time"
)

// Two SRT implementations sit behind this small interface: the pure-Go
// datarhei/gosrt (transport_gosrt.go, the default build) and libsrt through
// haivision/srtgo (transport_libsrt.go, build tag libsrt). Each file
// provides transportName and listen; everything else in the package (stream
// ids, the gate, the TS demuxer, sessions, metrics) is shared.

// messageBufferSize is the read buffer for one SRT message. SRT live mode
// delivers whole messages and drops what does not fit the buffer, so it must
// hold the largest payload: 1456 bytes with the usual 1500-byte MSS
// (srt-live-transmit's default; ffmpeg sends 1316).
const messageBufferSize = 1500

// errListenerClosed is returned by accept once the listener is closed.
var errListenerClosed = errors.New("srt: listener closed")

// listenConfig is what a transport needs to listen.
type listenConfig struct {
	addr    string
	latency time.Duration // SRTO_RCVLATENCY
	// peerIdleTimeout drops a peer that sends nothing at all, not even
	// keep-alives (SRTO_PEERIDLETIMEO).
	peerIdleTimeout time.Duration
	gate            gate
	log             *slog.Logger
}

// listener is a bound SRT listener.
type listener interface {
	Addr() net.Addr
	// accept waits for the next caller that the gate admitted (with the
	// right passphrase). It returns the rest of its handshake: claiming the
	// stream (which asks the packager and any publish hook, and may take a
	// while) and accepting the connection; Serve runs it on a goroutine of
	// its own, so one slow publish never holds up other callers. finish
	// returns nil when the caller was refused. accept returns an error
	// wrapping errListenerClosed after close, a *callerError when accepting
	// one caller failed (the listener goes on), and any other error when
	// the listener broke.
	accept() (finish func() *caller, err error)
	// close stops accepting: a waiting accept returns. Any goroutine may
	// call it, once or more.
	close()
}

// callerError is a failure to accept one caller; the listener works on.
type callerError struct{ err error }

func (e *callerError) Error() string { return e.err.Error() }
func (e *callerError) Unwrap() error { return e.err }

// caller is an accepted, publishing SRT connection.
type caller struct {
	conn   conn
	remote net.Addr
	adm    admission
	pub    publication
}

// conn is one SRT connection.
type conn interface {
	// Read reads one message; p is at least messageBufferSize bytes.
	Read(p []byte) (int, error)
	// interrupt makes a waiting Read, and every later one, fail. Any
	// goroutine may call it.
	interrupt()
	// close releases the connection. Only the goroutine that reads calls
	// it, after its last Read (srtgo sockets are not safe to close under a
	// concurrent Read).
	close()
	// stats returns the link statistics since the connection started.
	stats() (linkStats, error)
}

// linkStats are a connection's receiver-side link statistics: counters
// since the connection started, and the current round-trip time.
type linkStats struct {
	rtt           time.Duration
	lost          uint64 // packets detected missing
	retransmitted uint64 // retransmitted packets received
	dropped       uint64 // packets given up (too late to play)
}
