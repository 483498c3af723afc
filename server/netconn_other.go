//go:build !unix

package server

import (
	"errors"
	"syscall"
)

// rawReads: elsewhere, reads block in net.Conn.Read with their own buffer.
const rawReads = false

func readRaw(syscall.RawConn) (*[]byte, error) { return nil, errors.New("raw reads not supported") }

// rawWrites: elsewhere, batches are written with net.Conn.Write.
const rawWrites = false

func writeRaw(syscall.RawConn, []byte) (int, error) { return 0, errors.New("raw writes not supported") }
