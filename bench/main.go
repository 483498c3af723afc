//go:build !js

package bench

import (
	"context"
	"fmt"
	"io"
)

// Main runs the suite, writes the report and chart, prints the targets to
// out and returns the figures. args are the command line's flags, recorded
// in the report.
func Main(ctx context.Context, cfg Config, args []string, out io.Writer) (*Results, error) {
	res, err := Run(ctx, cfg)
	if err != nil {
		return nil, err
	}
	res.Args = args
	if err := WriteReport(res); err != nil {
		return nil, err
	}
	for _, t := range res.Targets() {
		met := "met"
		if !t.Met {
			met = "MISSED"
		}
		fmt.Fprintf(out, "%-6s %s: %s (baseline %s, %s; goal %s)\n", met, t.What, t.Measured, t.Baseline, t.Ratio, t.Goal)
	}
	fmt.Fprintf(out, "wrote %s\n", cfg.Out)
	return res, nil
}
