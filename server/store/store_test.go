//go:build !js

package store_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rtmcall/rtmcall/server/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// jetStream starts a NATS server with JetStream under a temporary directory.
func jetStream(t *testing.T, dir string) string {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: dir})
	require.NoError(t, err)
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	require.True(t, ns.ReadyForConnections(10*time.Second))
	return ns.ClientURL()
}

// opener opens a store on dir (a directory, or a NATS URL); reopening
// sees what was kept.
type opener func(t *testing.T) store.Store

func stores(t *testing.T) map[string]opener {
	dir := t.TempDir()
	url := jetStream(t, t.TempDir())
	return map[string]opener{
		"file": func(t *testing.T) store.Store {
			s, err := store.OpenFile(dir)
			require.NoError(t, err)
			return s
		},
		"kv": func(t *testing.T) store.Store {
			s, err := store.DialKV(ctxT(t), url, "rtmcall_push_test", 1)
			require.NoError(t, err)
			return s
		},
	}
}

func sub(i int) store.Subscription {
	return store.Subscription{Endpoint: fmt.Sprintf("https://push.example/%d", i), P256dh: "k", Auth: "a", Session: "s",
		Created: time.Unix(int64(i), 0).UTC()}
}

func add(s store.Subscription) func([]store.Subscription) ([]store.Subscription, error) {
	return func(cur []store.Subscription) ([]store.Subscription, error) { return append(cur, s), nil }
}

// Both stores keep subscriptions by user and secrets across a reopen; an
// update's error stores nothing; an empty list removes the user.
func TestStores(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			odd := "bob/../ \u00e9!" // any user id, whatever the file system or KV key rules
			require.NoError(t, s.Update(ctxT(t), odd, add(sub(1))))
			require.NoError(t, s.Update(ctxT(t), odd, add(sub(2))))
			require.NoError(t, s.Update(ctxT(t), "carol", add(sub(3))))
			assert.Equal(t, []store.Subscription{sub(1), sub(2)}, s.Subscriptions(odd))
			boom := errors.New("boom")
			assert.ErrorIs(t, s.Update(ctxT(t), odd, func([]store.Subscription) ([]store.Subscription, error) { return nil, boom }), boom)
			require.NoError(t, s.Update(ctxT(t), "carol", func([]store.Subscription) ([]store.Subscription, error) { return nil, nil }))
			assert.Empty(t, s.Subscriptions("carol"))

			made := 0
			gen := func() ([]byte, error) { made++; return []byte(fmt.Sprintf("secret %d", made)), nil }
			k, err := s.Secret(ctxT(t), "vapid", gen)
			require.NoError(t, err)
			assert.Equal(t, "secret 1", string(k))
			_, err = s.Secret(ctxT(t), "../x", gen)
			assert.Error(t, err)
			require.NoError(t, s.Close())

			s = open(t)
			defer s.Close()
			assert.Equal(t, []store.Subscription{sub(1), sub(2)}, s.Subscriptions(odd), "kept across a reopen")
			assert.Empty(t, s.Subscriptions("carol"))
			k, err = s.Secret(ctxT(t), "vapid", gen)
			require.NoError(t, err)
			assert.Equal(t, "secret 1", string(k), "made once")
		})
	}
}

// Concurrent updates of one user never lose one, so a cap holds: 40
// writers (on two KV stores, as two nodes) adding under a cap of 10 leave
// exactly 10.
func TestConcurrentUpdatesKeepCap(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			a, b := open(t), open(t)
			if name == "file" {
				b.Close()
				b = a // one process per directory
			}
			defer a.Close()
			defer b.Close()
			var wg sync.WaitGroup
			for i := range 40 {
				s := a
				if i%2 == 1 {
					s = b
				}
				wg.Go(func() {
					err := s.Update(ctxT(t), "bob", func(cur []store.Subscription) ([]store.Subscription, error) {
						if len(cur) >= 10 {
							return nil, errors.New("full")
						}
						return append(cur, sub(i)), nil
					})
					if err != nil && err.Error() != "full" {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			assert.Len(t, a.Subscriptions("bob"), 10)
		})
	}
}

// The file store writes files of mode 0600 and leaves no temporary file.
func TestFileStoreFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := store.OpenFile(dir)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Update(ctxT(t), "bob", add(sub(1))))
	_, err = s.Secret(ctxT(t), "refuse-key", func() ([]byte, error) { return []byte("k"), nil })
	require.NoError(t, err)
	var files []string
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			files = append(files, p)
			assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), p)
		}
		return err
	}))
	assert.ElementsMatch(t, []string{filepath.Join(dir, "subs", "626f62.json"), filepath.Join(dir, "secrets", "refuse-key")}, files)
	require.NoError(t, s.Close())
	assert.ErrorIs(t, s.Update(ctxT(t), "bob", add(sub(2))), store.ErrClosed)
}

// The KV store deletes a user's key with the user's last subscription, so
// the bucket holds no key per user who ever subscribed; a new
// subscription makes it again, and another node's memory follows both.
func TestKVDropsEmptyUser(t *testing.T) {
	url := jetStream(t, t.TempDir())
	a, err := store.DialKV(ctxT(t), url, "rtmcall_push_test", 1)
	require.NoError(t, err)
	defer a.Close()
	b, err := store.DialKV(ctxT(t), url, "rtmcall_push_test", 1)
	require.NoError(t, err)
	defer b.Close()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	bucket, err := js.KeyValue(ctxT(t), "rtmcall_push_test")
	require.NoError(t, err)
	key := "s." + hex.EncodeToString([]byte("bob"))
	none := func([]store.Subscription) ([]store.Subscription, error) { return nil, nil }

	require.NoError(t, a.Update(ctxT(t), "bob", add(sub(1))))
	_, err = bucket.Get(ctxT(t), key)
	require.NoError(t, err)
	require.NoError(t, a.Update(ctxT(t), "bob", none))
	_, err = bucket.Get(ctxT(t), key)
	assert.ErrorIs(t, err, jetstream.ErrKeyNotFound, "the last subscription removed, the key goes")
	assert.Empty(t, a.Subscriptions("bob"))
	require.NoError(t, a.Update(ctxT(t), "carol", none))
	_, err = bucket.Get(ctxT(t), "s."+hex.EncodeToString([]byte("carol")))
	assert.ErrorIs(t, err, jetstream.ErrKeyNotFound, "an update to nothing makes no key")

	require.NoError(t, b.Update(ctxT(t), "bob", add(sub(2))))
	assert.Equal(t, []store.Subscription{sub(2)}, b.Subscriptions("bob"), "made again after the delete")
	require.Eventually(t, func() bool { return len(a.Subscriptions("bob")) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, a.Update(ctxT(t), "bob", none))
	require.Eventually(t, func() bool { return len(b.Subscriptions("bob")) == 0 }, 10*time.Second, 5*time.Millisecond,
		"the other node's memory follows the delete")
}
