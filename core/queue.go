package core

import "sync"

// queue runs callbacks one at a time, in the order they were pushed, on a
// goroutine that exists only while there is work. Pushing never blocks, so
// the reader and user calls can push while holding the client's lock and
// callbacks always run outside it.
type queue struct {
	mu      sync.Mutex
	items   []func()
	running bool
	idle    *sync.Cond
}

func (q *queue) push(f func()) {
	q.mu.Lock()
	q.items = append(q.items, f)
	if !q.running {
		q.running = true
		go q.run()
	}
	q.mu.Unlock()
}

func (q *queue) run() {
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.running = false
			if q.idle != nil {
				q.idle.Broadcast()
			}
			q.mu.Unlock()
			return
		}
		f := q.items[0]
		q.items[0] = nil
		q.items = q.items[1:]
		q.mu.Unlock()
		f()
	}
}

// wait blocks until every pushed callback has run. It must not be called
// from a callback.
func (q *queue) wait() {
	q.mu.Lock()
	if q.idle == nil {
		q.idle = sync.NewCond(&q.mu)
	}
	for q.running {
		q.idle.Wait()
	}
	q.mu.Unlock()
}
