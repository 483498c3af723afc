package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// File is a Store under a directory, for one node: one JSON file per user
// under subs/ and one file per secret under secrets/ (mode 0600), each
// written atomically (a temporary file, fsync, rename, fsync of the
// directory), so that a crash leaves the old record or the new one. It
// holds every subscription in memory; one process may open a directory.
type File struct {
	dir string

	mu     sync.Mutex
	subs   map[string][]Subscription
	closed bool
}

var _ Store = (*File)(nil)

// OpenFile opens, or creates, the store in dir and loads it.
func OpenFile(dir string) (*File, error) {
	f := &File{dir: dir, subs: make(map[string][]Subscription)}
	for _, d := range []string{f.subsDir(), f.secretsDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("failed to make the store directory: %w", err)
		}
	}
	entries, err := os.ReadDir(f.subsDir())
	if err != nil {
		return nil, fmt.Errorf("failed to read the store: %w", err)
	}
	for _, e := range entries {
		key, ok := strings.CutSuffix(e.Name(), ".json")
		user, valid := userOf(key)
		if !ok || !valid {
			continue // a temporary file a crash left, or not ours
		}
		b, err := os.ReadFile(filepath.Join(f.subsDir(), e.Name()))
		if err != nil {
			return nil, fmt.Errorf("failed to read the store: %w", err)
		}
		var subs []Subscription
		if err := json.Unmarshal(b, &subs); err != nil {
			return nil, fmt.Errorf("failed to read the store: %s: %w", e.Name(), err)
		}
		f.subs[user] = subs
	}
	return f, nil
}

func (f *File) subsDir() string    { return filepath.Join(f.dir, "subs") }
func (f *File) secretsDir() string { return filepath.Join(f.dir, "secrets") }

// Update implements Store.
func (f *File) Update(_ context.Context, user string, fn func([]Subscription) ([]Subscription, error)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrClosed
	}
	next, err := fn(slices.Clone(f.subs[user]))
	if err != nil {
		return err
	}
	path := filepath.Join(f.subsDir(), userKey(user)+".json")
	if len(next) == 0 {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("failed to update the store: %w", err)
		}
		delete(f.subs, user)
		return nil
	}
	b, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("failed to update the store: %w", err)
	}
	if err := writeAtomic(path, b, 0o600); err != nil {
		return fmt.Errorf("failed to update the store: %w", err)
	}
	f.subs[user] = next
	return nil
}

// Subscriptions implements Store.
func (f *File) Subscriptions(user string) []Subscription {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.subs[user])
}

// Secret implements Store.
func (f *File) Secret(_ context.Context, name string, gen func() ([]byte, error)) ([]byte, error) {
	if !validName(name) {
		return nil, fmt.Errorf("store: bad secret name %q", name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	path := filepath.Join(f.secretsDir(), name)
	b, err := os.ReadFile(path)
	if err == nil {
		return b, nil
	}
	if !os.IsNotExist(err) {
		return nil, fmt.Errorf("failed to read secret %s: %w", name, err)
	}
	if b, err = gen(); err != nil {
		return nil, err
	}
	if err := writeAtomic(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("failed to keep secret %s: %w", name, err)
	}
	return b, nil
}

// Close implements Store.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// writeAtomic replaces path by b: a crash leaves the old file or the new.
func writeAtomic(path string, b []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
