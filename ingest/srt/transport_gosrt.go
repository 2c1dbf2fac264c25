//go:build !libsrt

package srt

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"

	gosrt "github.com/datarhei/gosrt"
)

// transportName identifies the SRT implementation in the startup log.
const transportName = "gosrt"

// listen binds a gosrt listener. gosrt hands us each connection request
// before it answers the handshake's conclusion, so every refusal, the
// passphrase check and the duplicate check included, reaches the caller as
// a rejection reason.
func listen(cfg listenConfig) (listener, error) {
	c := gosrt.DefaultConfig()
	c.ReceiverLatency = cfg.latency
	c.PeerIdleTimeout = cfg.peerIdleTimeout
	ln, err := gosrt.Listen("srt", cfg.addr, c)
	if err != nil {
		return nil, fmt.Errorf("gosrt: %w", err)
	}
	return &gosrtListener{ln: ln, gate: cfg.gate}, nil
}

type gosrtListener struct {
	ln     gosrt.Listener
	gate   gate
	closed atomic.Bool
}

func (l *gosrtListener) Addr() net.Addr { return l.ln.Addr() }

func (l *gosrtListener) close() {
	if l.closed.CompareAndSwap(false, true) {
		l.ln.Close()
	}
}

func (l *gosrtListener) accept() (func() *caller, error) {
	for {
		req, err := l.ln.Accept2()
		if err != nil {
			if l.closed.Load() || errors.Is(err, gosrt.ErrListenerClosed) {
				return nil, errListenerClosed
			}
			return nil, fmt.Errorf("gosrt: %w", err)
		}
		if finish := l.handshake(req); finish != nil {
			return finish, nil
		}
	}
}

// handshake admits one connection request; nil means it was refused. The
// function it returns claims the stream and accepts the request.
func (l *gosrtListener) handshake(req gosrt.ConnRequest) func() *caller {
	remote := req.RemoteAddr()
	adm, r := l.gate.admit(remote, req.StreamId())
	if r != nil {
		req.Reject(gosrt.RejectionReason(r.code.wire()))
		return nil
	}
	if r := checkSecret(req, adm); r != nil {
		l.gate.refuse(remote, adm, r)
		req.Reject(gosrt.RejectionReason(r.code.wire()))
		return nil
	}
	return func() *caller {
		pub, r := l.gate.claim(adm, remote)
		if r != nil {
			req.Reject(gosrt.RejectionReason(r.code.wire()))
			return nil
		}
		c, err := req.Accept()
		if err != nil {
			// The request went away meanwhile (a duplicate, a late retry).
			pub.end(fmt.Errorf("srt: accept: %w", err))
			return nil
		}
		return &caller{conn: &gosrtConn{c: c}, remote: remote, adm: adm, pub: pub}
	}
}

// checkSecret applies the passphrase the gate picked. The reasons follow
// what libsrt answers in the same cases, except that a caller without
// encryption gets the "bad secret" reason too, as the docs promise.
func checkSecret(req gosrt.ConnRequest, adm admission) *refusal {
	switch {
	case adm.passphrase == "" && req.IsEncrypted():
		return &refusal{reason: refuseBadPassphrase, code: rejectUnsecure,
			err: errors.New("the caller encrypts, but no passphrase is configured for this stream: connect without a passphrase")}
	case adm.passphrase != "" && !req.IsEncrypted():
		return &refusal{reason: refuseBadPassphrase, code: rejectBadSecret,
			err: errors.New("passphrase missing: this stream requires one (srt://...&passphrase=...)")}
	case adm.passphrase != "":
		if err := req.SetPassphrase(adm.passphrase); err != nil {
			return &refusal{reason: refuseBadPassphrase, code: rejectBadSecret, err: errors.New("wrong passphrase")}
		}
	}
	return nil
}

// gosrtConn adapts a gosrt connection. gosrt's Read hands out one packet
// (one message in live mode) at a time and is safe against a concurrent
// Close, which is how interrupt works.
type gosrtConn struct {
	c gosrt.Conn
}

func (c *gosrtConn) Read(p []byte) (int, error) { return c.c.Read(p) }
func (c *gosrtConn) interrupt()                 { _ = c.c.Close() }
func (c *gosrtConn) close()                     { _ = c.c.Close() }

func (c *gosrtConn) stats() (linkStats, error) {
	var s gosrt.Statistics
	c.c.Stats(&s)
	return linkStats{
		rtt:           msDuration(s.Instantaneous.MsRTT),
		lost:          s.Accumulated.PktRecvLoss,
		retransmitted: s.Accumulated.PktRecvRetrans,
		dropped:       s.Accumulated.PktRecvDrop,
	}, nil
}
