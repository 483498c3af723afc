package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// KV is a Store in a NATS JetStream key-value bucket that every node of a
// cluster opens: key "s.<hex user>" holds the user's subscriptions as
// JSON, "k.<name>" a secret. Updates compare and set on the key's
// revision, so the per-user cap holds across nodes; each node watches the
// bucket and keeps its own copy in memory, for Subscriptions.
type KV struct {
	kv jetstream.KeyValue
	nc *nats.Conn // closed by Close when KV dialed it

	mu   sync.Mutex
	subs map[string]entry

	cancel context.CancelFunc
	done   chan struct{}
}

type entry struct {
	subs []Subscription
	rev  uint64
}

var _ Store = (*KV)(nil)

// maxRetries bounds compare-and-set attempts against concurrent updates.
const maxRetries = 16

// DialKV connects to NATS at url (comma-separated servers) and opens the
// bucket (see OpenKV); Close closes the connection.
func DialKV(ctx context.Context, url, bucket string, replicas int) (*KV, error) {
	nc, err := nats.Connect(url, nats.Name("rtmcall-store"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("failed to connect to NATS for the store: %w", err)
	}
	kv, err := OpenKV(ctx, nc, bucket, replicas)
	if err != nil {
		nc.Close()
		return nil, err
	}
	kv.nc = nc
	return kv, nil
}

// OpenKV makes or opens the bucket, kept on disk in replicas copies, and
// loads it; it retries until ctx ends while a JetStream cluster elects
// its leader.
func OpenKV(ctx context.Context, nc *nats.Conn, bucket string, replicas int) (*KV, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("failed to open JetStream: %w", err)
	}
	var kv jetstream.KeyValue
	for {
		// Short attempts: a request made before the cluster has its
		// JetStream leader goes unanswered.
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		kv, err = js.CreateOrUpdateKeyValue(actx, jetstream.KeyValueConfig{Bucket: bucket, History: 1,
			Replicas: max(replicas, 1), Storage: jetstream.FileStorage, Description: "rtmcall Web Push subscriptions and keys"})
		cancel()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("failed to open the key-value bucket %s: %w", bucket, err)
		case <-time.After(100 * time.Millisecond): // the cluster is electing its JetStream leader
		}
	}
	wctx, cancel := context.WithCancel(context.Background())
	w, err := kv.Watch(wctx, "s.*")
	if err != nil {
		cancel()
		return nil, fmt.Errorf("failed to watch the key-value bucket %s: %w", bucket, err)
	}
	s := &KV{kv: kv, subs: make(map[string]entry), cancel: cancel, done: make(chan struct{})}
	loaded := make(chan struct{})
	go s.watch(w, loaded)
	select {
	case <-loaded:
		return s, nil
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("failed to load the key-value bucket %s: %w", bucket, ctx.Err())
	}
}

// watch applies the bucket's changes to memory; a nil entry marks the end
// of the initial values.
func (s *KV) watch(w jetstream.KeyWatcher, loaded chan struct{}) {
	defer close(s.done)
	defer w.Stop()
	for e := range w.Updates() {
		if e == nil {
			close(loaded)
			continue
		}
		user, ok := userOf(strings.TrimPrefix(e.Key(), "s."))
		if !ok {
			continue
		}
		var subs []Subscription
		if e.Operation() == jetstream.KeyValuePut {
			if err := json.Unmarshal(e.Value(), &subs); err != nil {
				continue // not ours
			}
		}
		s.apply(user, subs, e.Revision())
	}
}

// apply records user's subscriptions at rev, unless memory has a later one.
func (s *KV) apply(user string, subs []Subscription, rev uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.subs[user]; ok && cur.rev >= rev {
		return
	}
	s.subs[user] = entry{subs: subs, rev: rev}
}

// Update implements Store with compare-and-set on the user's key.
func (s *KV) Update(ctx context.Context, user string, f func([]Subscription) ([]Subscription, error)) error {
	key := "s." + userKey(user)
	for range maxRetries {
		var cur []Subscription
		var rev uint64
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("failed to read the store: %w", err)
		default:
			rev = e.Revision()
			if err := json.Unmarshal(e.Value(), &cur); err != nil {
				return fmt.Errorf("failed to read the store: %w", err)
			}
		}
		next, err := f(cur)
		if err != nil {
			return err
		}
		b, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("failed to update the store: %w", err)
		}
		switch {
		case len(next) == 0 && rev == 0: // nothing kept, nothing to keep
			return nil
		case len(next) == 0:
			// The user's last one went: the key goes, as the file store's
			// file does. The purge's marker comes after rev, and memory
			// keeps the user empty from rev+1 on, so that no older value
			// the watch still brings comes back.
			err = s.kv.Purge(ctx, key, jetstream.LastRevision(rev))
			rev++
		case rev == 0:
			rev, err = s.kv.Create(ctx, key, b)
		default:
			rev, err = s.kv.Update(ctx, key, b, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // another node updated the user meanwhile
		}
		if err != nil {
			return fmt.Errorf("failed to update the store: %w", err)
		}
		s.apply(user, next, rev) // visible here at once, before the watch brings it
		return nil
	}
	return fmt.Errorf("failed to update the store: %d concurrent updates in a row", maxRetries)
}

// Subscriptions implements Store.
func (s *KV) Subscriptions(user string) []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.subs[user].subs)
}

// Secret implements Store: the first node to create it wins.
func (s *KV) Secret(ctx context.Context, name string, gen func() ([]byte, error)) ([]byte, error) {
	if !validName(name) {
		return nil, fmt.Errorf("store: bad secret name %q", name)
	}
	key := "k." + name
	for range maxRetries {
		e, err := s.kv.Get(ctx, key)
		if err == nil {
			return e.Value(), nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("failed to read secret %s: %w", name, err)
		}
		b, err := gen()
		if err != nil {
			return nil, err
		}
		if _, err := s.kv.Create(ctx, key, b); err == nil {
			return b, nil
		} else if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("failed to keep secret %s: %w", name, err)
		}
	}
	return nil, fmt.Errorf("failed to keep secret %s: it keeps changing", name)
}

// Close implements Store: it stops the watch, and closes the connection
// DialKV made.
func (s *KV) Close() error {
	s.cancel()
	<-s.done
	if s.nc != nil {
		s.nc.Close()
	}
	return nil
}
