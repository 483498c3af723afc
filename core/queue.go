package core

import "sync"

// queue runs callbacks one at a time, in the order they were pushed, on a
// goroutine that exists only while there is work. Pushing never blocks, so
// the reader and user calls can push while holding the client's lock and
// callbacks always run outside it.
type queue struct {
	mu      sync.Mutex
	items   []func()
	spare   []func() // the run's last batch, emptied, for the next pushes
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

// run takes the callbacks in batches, swapping two slices, so that a
// steady stream of events reallocates nothing.
func (q *queue) run() {
	q.mu.Lock()
	for len(q.items) > 0 {
		batch := q.items
		q.items = q.spare
		q.mu.Unlock()
		for _, f := range batch {
			f()
		}
		clear(batch)
		q.mu.Lock()
		q.spare = batch[:0]
	}
	q.running = false
	if q.idle != nil {
		q.idle.Broadcast()
	}
	q.mu.Unlock()
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
