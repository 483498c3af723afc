//go:build unix

package soak

import (
	"fmt"
	"syscall"
)

// raiseFileLimit raises the soft RLIMIT_NOFILE to want (at most the hard
// limit): every client holds a socket and so does the server's side of it,
// in the same process, which exceeds the common default of 1024. It returns
// the limit now in force and fails if that is below want.
func raiseFileLimit(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("soak: failed to read the open-file limit: %w", err)
	}
	if lim.Cur < want {
		lim.Cur = min(want, lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("soak: failed to raise the open-file limit to %d: %w", lim.Cur, err)
		}
	}
	if lim.Cur < want {
		return lim.Cur, fmt.Errorf("%w: %d open files allowed (hard limit), the fleet needs about %d", errTooFewFiles, lim.Cur, want)
	}
	return lim.Cur, nil
}
