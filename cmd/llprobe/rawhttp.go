package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// rawClient is a minimal HTTP/1.1 client on one keep-alive connection: GET
// only, one request at a time, what the probe's viewers need and nothing
// more. net/http's client costs three goroutines and a header map per
// request; with 200 viewers in the same process as the origin, on two
// cores, that cost would be measured as the origin's delivery time (the
// same reason load tools such as wrk and h2load are lean).
type rawClient struct {
	addr    string // host:port, also the Host header
	conn    net.Conn
	br      *bufio.Reader
	req     []byte // the request being written, reused
	scratch []byte // part bodies are read into it and dropped
}

// rawReadBuffer is the connection's read buffer; bodies larger than what it
// holds are read straight into scratch.
const rawReadBuffer = 16 << 10

func newRawClient(addr string) *rawClient {
	return &rawClient{addr: addr}
}

// close drops the connection; the next request dials a new one.
func (c *rawClient) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn, c.br = nil, nil
	}
}

// rawResponse is what get learnt of an answer.
type rawResponse struct {
	status    int
	n         int64     // body bytes
	firstByte time.Time // when the status line's first bytes arrived
}

var errBodyTooLarge = errors.New("body too large")

// get requests target (a path with its query) and reads the answer's body:
// into buf when it is not nil, else into scratch (dropped). A body beyond
// limit bytes is an error. ctx cancels the request (the connection is then
// closed); every request also has requestTimeout.
func (c *rawClient) get(ctx context.Context, target string, buf *bytes.Buffer, limit int64) (rawResponse, error) {
	var r rawResponse
	if c.conn == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			return r, err
		}
		c.conn, c.br = conn, bufio.NewReaderSize(conn, rawReadBuffer)
	}
	conn := c.conn
	_ = conn.SetDeadline(time.Now().Add(requestTimeout))
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	r, keep, err := c.exchange(target, buf, limit)
	if err != nil || !keep {
		c.close()
	}
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return r, err
}

// exchange writes the request and reads the answer; keep reports whether
// the connection may carry the next request.
func (c *rawClient) exchange(target string, buf *bytes.Buffer, limit int64) (r rawResponse, keep bool, err error) {
	c.req = append(c.req[:0], "GET "...)
	c.req = append(c.req, target...)
	c.req = append(c.req, " HTTP/1.1\r\nHost: "...)
	c.req = append(c.req, c.addr...)
	c.req = append(c.req, "\r\nUser-Agent: llprobe\r\n\r\n"...)
	if _, err := c.conn.Write(c.req); err != nil {
		return r, false, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return r, false, fmt.Errorf("status line: %w", err)
	}
	r.firstByte = time.Now()
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return r, false, fmt.Errorf("status line %q", bytes.TrimSpace(line))
	}
	r.status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return r, false, fmt.Errorf("status line %q", bytes.TrimSpace(line))
	}
	length, chunked, keep := int64(-1), false, true
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return r, false, fmt.Errorf("header: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return r, false, fmt.Errorf("header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return r, false, fmt.Errorf("Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = keep && !bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		r.n, err = c.readChunked(buf, limit)
	case length >= 0:
		if length > limit {
			return r, false, fmt.Errorf("%w: %d bytes", errBodyTooLarge, length)
		}
		r.n, err = c.readN(buf, length)
	case r.status == 204 || r.status == 304 || r.status < 200:
	default: // the body ends with the connection
		r.n, err = c.readN(buf, limit+1)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = nil
		} else if err == nil {
			err = fmt.Errorf("%w: beyond %d bytes", errBodyTooLarge, limit)
		}
		keep = false
	}
	return r, keep && err == nil, err
}

// readN reads n body bytes into buf (or scratch).
func (c *rawClient) readN(buf *bytes.Buffer, n int64) (int64, error) {
	var got int64
	for got < n {
		var p []byte
		if buf != nil {
			buf.Grow(int(min(n-got, 64<<10)))
			b := buf.AvailableBuffer()
			p = b[:min(int64(cap(b)), n-got)]
		} else {
			if c.scratch == nil {
				c.scratch = make([]byte, partReadBuffer)
			}
			p = c.scratch[:min(int64(len(c.scratch)), n-got)]
		}
		k, err := c.br.Read(p)
		if buf != nil {
			buf.Write(p[:k])
		}
		got += int64(k)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return got, err
		}
	}
	return got, nil
}

// readChunked reads a chunked body (RFC 9112 7.1) into buf (or scratch).
func (c *rawClient) readChunked(buf *bytes.Buffer, limit int64) (int64, error) {
	var total int64
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return total, fmt.Errorf("chunk size: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return total, fmt.Errorf("chunk size %q", line)
		}
		if size == 0 {
			// Trailers, then the empty line.
			for {
				line, err := c.br.ReadSlice('\n')
				if err != nil {
					return total, fmt.Errorf("trailer: %w", err)
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return total, nil
				}
			}
		}
		if total+size > limit {
			return total, fmt.Errorf("%w: beyond %d bytes", errBodyTooLarge, limit)
		}
		n, err := c.readN(buf, size)
		total += n
		if err != nil {
			return total, err
		}
		if _, err := c.br.Discard(2); err != nil { // CRLF
			return total, err
		}
	}
}
