//go:build !js

package bench

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// MicroResult is one line of `go test -bench -benchmem`.
type MicroResult struct {
	Pkg         string
	Name        string
	N           int64
	NsPerOp     float64
	BytesPerOp  float64
	AllocsPerOp float64
	Other       string // custom metrics (b.ReportMetric)
}

// microPackages hold the Go micro-benchmarks.
var microPackages = []string{"./core/...", "./server/..."}

// runMicro runs the Go micro-benchmarks in root and parses their results.
func runMicro(ctx context.Context, root, benchtime string) ([]MicroResult, error) {
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1", "-benchtime", benchtime}, microPackages...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return parseMicro(out.String()), nil
}

// parseMicro reads benchmark lines, each attributed to the last "pkg:" line.
func parseMicro(out string) []MicroResult {
	var res []MicroResult
	pkg := ""
	for _, line := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		r := MicroResult{Pkg: pkg, Name: f[0], N: n}
		var other []string
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				r.NsPerOp = v
			case "B/op":
				r.BytesPerOp = v
			case "allocs/op":
				r.AllocsPerOp = v
			default:
				other = append(other, f[i]+" "+f[i+1])
			}
		}
		r.Other = strings.Join(other, ", ")
		res = append(res, r)
	}
	return res
}
