//go:build !js

package soak

import (
	"io"
	"net"
	"sync"
)

// link is a NATS route from one server to another through a TCP proxy of
// the harness, so that a partition can cut it for real (cut) and a heal
// let NATS redial it (mend), as rtmcalltest.Cluster.Partition does.
type link struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newLink(target string) (*link, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &link{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	l.wg.Go(l.serve)
	return l, nil
}

func (l *link) addr() string { return l.ln.Addr().String() }

func (l *link) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.wg.Go(func() { l.pipe(c) })
	}
}

func (l *link) pipe(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", l.target)
	if err != nil {
		return
	}
	defer up.Close()
	l.mu.Lock()
	if l.down {
		l.mu.Unlock()
		return
	}
	l.conns[c], l.conns[up] = struct{}{}, struct{}{}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.conns, c)
		delete(l.conns, up)
		l.mu.Unlock()
	}()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = up.Close()
	<-done
}

// cut drops the route's connections without a word and refuses new ones
// until mend.
func (l *link) cut() {
	l.mu.Lock()
	l.down = true
	l.mu.Unlock()
	closeConns(&l.mu, func(yield func(net.Conn)) {
		for c := range l.conns {
			yield(c)
		}
	})
}

func (l *link) mend() {
	l.mu.Lock()
	l.down = false
	l.mu.Unlock()
}

func (l *link) close() {
	l.cut()
	_ = l.ln.Close()
	l.wg.Wait()
}
