//go:build libsrt

package srt

/*
#cgo LDFLAGS: -lsrt
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <srt/srt.h>

// sockport returns the bound port of an SRT socket (0 on error).
static int sockport(SRTSOCKET s) {
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (srt_getsockname(s, (struct sockaddr*)&ss, &len) == SRT_ERROR) return 0;
	if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in*)&ss)->sin_port);
	if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6*)&ss)->sin6_port);
	return 0;
}

// listening reports whether a listener socket still listens.
static int listening(SRTSOCKET s) { return srt_getsockstate(s) == SRTS_LISTENING; }

// gone reports whether a connection has ended (broken, closing, closed).
static int gone(SRTSOCKET s) {
	SRT_SOCKSTATUS st = srt_getsockstate(s);
	return st == SRTS_BROKEN || st == SRTS_CLOSING || st == SRTS_CLOSED || st == SRTS_NONEXIST;
}

// streamid copies an accepted socket's stream id into buf (size > 512).
static int streamid(SRTSOCKET s, char *buf, int size) {
	int len = size;
	if (srt_getsockflag(s, SRTO_STREAMID, buf, &len) == SRT_ERROR) return -1;
	return len;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/haivision/srtgo"
)

// transportName identifies the SRT implementation in the startup log.
const transportName = "libsrt"

// listenBacklog is libsrt's queue of handshaken callers not accepted yet.
const listenBacklog = 16

// listen binds a libsrt listener through srtgo.
//
// libsrt asks us about a caller in its listen callback, before it checks
// the caller's passphrase: the callback admits (stream id, mode, name) and
// sets the passphrase on the new socket; libsrt itself then refuses a wrong
// passphrase (REJ_BADSECRET) or a missing or unexpected one (REJ_UNSECURE).
// Those refusals never reach us, so they are neither logged nor counted. The
// stream is claimed after accept, when a refusal (another protocol's
// publisher holds the name) can only close the connection.
func listen(cfg listenConfig) (listener, error) {
	host, portStr, err := net.SplitHostPort(cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("libsrt: %w", err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("libsrt: port %q: %w", portStr, err)
	}
	if host == "" {
		host = "0.0.0.0" // srtgo resolves the host; "" does not resolve
	}
	// No srtgo.InitSRT: libsrt starts with the first socket, and every
	// explicit start would need its own srt_cleanup before libsrt could be
	// stopped (srtgo.CleanupSRT; a test binary built with -race runs
	// libsrt's C++ destructors at exit, under its running threads).
	// libsrt logs to stderr, a line per rogue handshake at the default
	// level: junk datagrams would flood it. The level is process-wide.
	srtgo.SrtSetLogLevel(srtgo.SrtLogLevelCrit)
	sock := srtgo.NewSrtSocket(host, uint16(port), map[string]string{
		"blocking":      "0",
		"transtype":     "live",
		"mode":          "listener",
		"rcvlatency":    strconv.FormatInt(cfg.latency.Milliseconds(), 10),
		"peeridletimeo": strconv.FormatInt(cfg.peerIdleTimeout.Milliseconds(), 10),
	})
	if sock == nil {
		// srtgo returns nil without saying why.
		return nil, errors.New("libsrt: could not create an SRT socket")
	}
	clearDeadline(sock)
	l := &libsrtListener{sock: sock, gate: cfg.gate}
	sock.SetListenCallback(l.onHandshake)
	if err := sock.Listen(listenBacklog); err != nil {
		return nil, fmt.Errorf("libsrt: %w", err)
	}
	bound := int(C.sockport(C.SRTSOCKET(sock.GetSocket())))
	l.addr = &net.UDPAddr{IP: net.ParseIP(host), Port: bound}
	return l, nil
}

type libsrtListener struct {
	sock *srtgo.SrtSocket
	gate gate
	addr *net.UDPAddr

	// srtgo's Close writes the socket's fields that a concurrent Accept
	// reads, so close only interrupts a waiting accept, which then closes.
	mu        sync.Mutex
	closed    bool
	accepting bool
	released  bool
}

func (l *libsrtListener) Addr() net.Addr { return l.addr }

// onHandshake is libsrt's listen callback, on a libsrt thread.
func (l *libsrtListener) onHandshake(ns *srtgo.SrtSocket, _ int, remote *net.UDPAddr, streamID string) bool {
	adm, r := l.gate.admit(remote, streamID)
	if r != nil {
		_ = ns.SetRejectReason(int(r.code)) // libsrt takes only reasons >= 1000: all of the gate's are
		return false
	}
	if adm.passphrase != "" {
		if err := ns.SetSockOptString(srtgo.SRTO_PASSPHRASE, adm.passphrase); err != nil {
			_ = ns.SetRejectReason(int(rejectISE))
			l.gate.refuse(remote, adm, &refusal{reason: refuseOther, code: rejectISE,
				err: fmt.Errorf("libsrt: set the passphrase: %w", err)})
			return false
		}
	}
	return true
}

func (l *libsrtListener) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	if l.accepting {
		l.sock.SetReadDeadline(time.Now()) // accept returns and releases the socket
		return
	}
	l.releaseLocked()
}

func (l *libsrtListener) releaseLocked() {
	if !l.released {
		l.released = true
		closeSocket(l.sock)
	}
}

// clearDeadline undoes an interrupt. srtgo pools its poll descriptors
// without resetting their deadlines: a socket closed with a passed deadline
// would hand it to a later socket, whose every wait would then time out.
func clearDeadline(s *srtgo.SrtSocket) { s.SetDeadline(time.Time{}) }

func closeSocket(s *srtgo.SrtSocket) {
	clearDeadline(s)
	s.Close()
}

func (l *libsrtListener) accept() (func() *caller, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.releaseLocked()
			l.mu.Unlock()
			return nil, errListenerClosed
		}
		l.accepting = true
		l.mu.Unlock()

		sock, remote, err := l.sock.Accept()

		l.mu.Lock()
		l.accepting = false
		closed := l.closed
		l.mu.Unlock()
		if closed {
			if sock != nil {
				closeSocket(sock)
			}
			continue // releases the listener
		}
		if err != nil {
			err = fmt.Errorf("libsrt: %w", err)
			if C.listening(C.SRTSOCKET(l.sock.GetSocket())) != 0 {
				// One caller failed (it went away between its handshake
				// and the accept): srtgo cannot set up a broken socket.
				return nil, &callerError{err}
			}
			return nil, err
		}
		clearDeadline(sock)
		return func() *caller { return l.admitAccepted(sock, remote) }, nil
	}
}

// admitAccepted runs the gate again for a handshaken socket (its stream id
// is read back from it) and claims the stream.
func (l *libsrtListener) admitAccepted(sock *srtgo.SrtSocket, remote *net.UDPAddr) *caller {
	buf := make([]byte, maxStreamIDLen+1)
	n := int(C.streamid(C.SRTSOCKET(sock.GetSocket()), (*C.char)(unsafe.Pointer(&buf[0])), C.int(len(buf))))
	if n < 0 {
		n = 0
	}
	adm, r := l.gate.admit(remote, string(buf[:n]))
	if r != nil {
		closeSocket(sock)
		return nil
	}
	pub, r := l.gate.claim(adm, remote)
	if r != nil {
		closeSocket(sock)
		return nil
	}
	return &caller{conn: &libsrtConn{sock: sock}, remote: remote, adm: adm, pub: pub}
}

// libsrtConn adapts an srtgo socket.
type libsrtConn struct {
	sock *srtgo.SrtSocket
	// srtgo's Read returns queued messages even after a deadline has
	// passed, hence the flag.
	interrupted atomic.Bool
	// deadline is the read deadline the reader armed (see Read).
	deadline time.Time
	// srt_bstats is called with clear=1 (srtgo's choice), which resets the
	// interval counters: the retransmissions are summed here.
	retransmitted uint64
}

var errInterrupted = errors.New("libsrt: connection interrupted")

// checkEvery bounds how long a Read waits without asking libsrt whether
// the connection is still there: srtgo can lose the wakeup for a peer's
// hang-up (its poller signals errors without the handshake it uses for
// data), which would leave Read waiting until ReadTimeout.
const checkEvery = time.Second

func (c *libsrtConn) Read(p []byte) (int, error) {
	for {
		if c.interrupted.Load() {
			return 0, errInterrupted
		}
		if now := time.Now(); now.After(c.deadline) {
			c.deadline = now.Add(checkEvery)
			c.sock.SetReadDeadline(c.deadline)
		}
		n, err := c.sock.Read(p)
		var timeout *srtgo.SrtEpollTimeout
		if err == nil || !errors.As(err, &timeout) || c.interrupted.Load() {
			return n, err
		}
		if C.gone(C.SRTSOCKET(c.sock.GetSocket())) != 0 {
			return 0, io.EOF
		}
		c.deadline = time.Time{} // re-arm: srtgo keeps reporting a passed deadline
	}
}

func (c *libsrtConn) interrupt() {
	c.interrupted.Store(true)
	c.sock.SetReadDeadline(time.Now())
}

func (c *libsrtConn) close() { closeSocket(c.sock) }

func (c *libsrtConn) stats() (linkStats, error) {
	s, err := c.sock.Stats()
	if err != nil {
		return linkStats{}, err
	}
	c.retransmitted += uint64(max(s.PktRcvRetrans, 0))
	return linkStats{
		rtt:           msDuration(s.MsRTT),
		lost:          uint64(max(s.PktRcvLossTotal, 0)),
		retransmitted: c.retransmitted,
		dropped:       uint64(max(s.PktRcvDropTotal, 0)),
	}, nil
}
