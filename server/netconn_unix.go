//go:build unix

package server

import (
	"io"
	"syscall"
)

// rawReads: on Unix, a read waits for the socket to be readable before it
// takes a buffer, so that an idle connection holds none.
const rawReads = true

// rawWrites: on Unix, a batch may be written without waiting for the
// socket (netConn.tryUncork).
const rawWrites = true

// initRaw makes c's raw read and write callbacks, once per connection: a
// closure made per call would cost allocations per frame.
func (c *netConn) initRaw() {
	c.rd.fn, c.wr.fn = c.readFd, c.writeFd
}

// readRaw reads what the socket has, once it has something, into a pooled
// buffer. rmu is held.
func (c *netConn) readRaw() (*[]byte, error) {
	op := &c.rd
	op.buf, op.n, op.err = nil, 0, nil
	err := c.raw.Read(op.fn)
	b, n, rerr := op.buf, op.n, op.err
	op.buf, op.err = nil, nil
	switch {
	case err == nil && rerr == nil && n > 0:
		*b = (*b)[:n]
		return b, nil
	case err == nil && rerr == nil:
		err = io.EOF
	case err == nil:
		err = rerr
	}
	if b != nil {
		putIOBuf(b)
	}
	return nil, err
}

func (c *netConn) readFd(fd uintptr) bool {
	op := &c.rd
	op.buf = getIOBuf()
	for {
		op.n, op.err = syscall.Read(int(fd), (*op.buf)[:cap(*op.buf)])
		if op.err != syscall.EINTR {
			break
		}
	}
	if op.err == syscall.EAGAIN {
		putIOBuf(op.buf)
		op.buf = nil
		return false // wait until readable: no buffer is held meanwhile
	}
	return true
}

// writeRaw writes what the socket takes of p at once: n is 0 when it is
// full. wmu is held.
func (c *netConn) writeRaw(p []byte) (int, error) {
	op := &c.wr
	op.p, op.n, op.err = p, 0, nil
	err := c.raw.Write(op.fn)
	n, werr := op.n, op.err
	op.p, op.err = nil, nil
	switch {
	case err != nil:
		return 0, err
	case werr == syscall.EAGAIN:
		return 0, nil
	case werr != nil:
		return 0, werr
	}
	return n, nil
}

func (c *netConn) writeFd(fd uintptr) bool {
	op := &c.wr
	for {
		op.n, op.err = syscall.Write(int(fd), op.p)
		if op.err != syscall.EINTR {
			break
		}
	}
	return true // never wait
}
