//go:build unix

package server

import (
	"io"
	"syscall"
)

// rawReads: on Unix, a read waits for the socket to be readable before it
// takes a buffer, so that an idle connection holds none.
const rawReads = true

// readRaw reads what the socket has, once it has something, into a pooled
// buffer.
func readRaw(rc syscall.RawConn) (*[]byte, error) {
	var (
		b    *[]byte
		n    int
		rerr error
	)
	err := rc.Read(func(fd uintptr) bool {
		b = getIOBuf()
		for {
			n, rerr = syscall.Read(int(fd), (*b)[:cap(*b)])
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			putIOBuf(b)
			b = nil
			return false // wait until readable: no buffer is held meanwhile
		}
		return true
	})
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

// rawWrites: on Unix, a batch may be written without waiting for the
// socket (netConn.tryUncork).
const rawWrites = true

// writeRaw writes what the socket takes of p at once: n is 0 when it is
// full.
func writeRaw(rc syscall.RawConn, p []byte) (int, error) {
	var (
		n    int
		werr error
	)
	err := rc.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), p)
			if werr != syscall.EINTR {
				break
			}
		}
		return true // never wait
	})
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
