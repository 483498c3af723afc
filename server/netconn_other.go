//go:build !unix

package server

import "errors"

// rawReads: elsewhere, reads block in net.Conn.Read with their own buffer.
const rawReads = false

// rawWrites: elsewhere, batches are written with net.Conn.Write.
const rawWrites = false

func (c *netConn) initRaw() {}

func (c *netConn) readRaw() (*[]byte, error) { return nil, errors.New("raw reads not supported") }

func (c *netConn) writeRaw([]byte) (int, error) { return 0, errors.New("raw writes not supported") }
