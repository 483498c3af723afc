//go:build !unix

package server

import (
	"errors"
	"syscall"
)

// rawReads: elsewhere, reads block in net.Conn.Read with their own buffer.
const rawReads = false

func readRaw(syscall.RawConn) (*[]byte, error) { return nil, errors.New("raw reads not supported") }
