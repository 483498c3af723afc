//go:build !js

package soak

import (
	"context"
	"fmt"
	"io"
	"os"
)

// Files names optional outputs of Main.
type Files struct {
	ServerLog   string // the nodes' info logs (Config.ServerLog)
	HeapProfile string // a heap profile of what the idle process holds after the run
}

// Main runs the soak, prints its report to w and returns an error if the
// run could not be set up or did not pass.
func Main(ctx context.Context, cfg Config, files Files, w io.Writer) error {
	for _, o := range []struct {
		path string
		w    *io.Writer
	}{{files.ServerLog, &cfg.ServerLog}, {files.HeapProfile, &cfg.HeapProfile}} {
		if o.path == "" {
			continue
		}
		f, err := os.Create(o.path)
		if err != nil {
			return err
		}
		defer f.Close() // written by then; a failed write shows in the report
		*o.w = f
	}
	rep, err := Run(ctx, cfg)
	if err != nil {
		return err
	}
	rep.Write(w)
	if !rep.OK() {
		return fmt.Errorf("soak failed: %d violations, %d run failures", rep.Violations, len(rep.Failures))
	}
	return nil
}
