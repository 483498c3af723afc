//go:build !js

package bench

import (
	"fmt"
	"html"
	"math"
	"strings"
	"time"
)

// chartSeries is one latency distribution drawn as a line.
type chartSeries struct {
	label  string
	color  string
	dashed bool
	dist   Dist
}

// chartPanel is one plot: several distributions on the same axes.
type chartPanel struct {
	title  string
	series []chartSeries
}

// The percentile axis runs from 0 to 99.9 %, spaced
// by log10(1/(1-q)) so that the tail gets as much room as the body (as
// HdrHistogram's plots do).
const chartMaxNines = 3 // 99.9 %

// latencyChart draws panels side by side as a standalone SVG document.
func latencyChart(title string, panels []chartPanel) string {
	const (
		pw, ph          = 440.0, 320.0 // panel size
		ml, mr, mt, mb  = 72.0, 24.0, 86.0, 52.0
		gap             = 96.0 // between panels
		legendLineWidth = 28.0
	)
	w := ml + float64(len(panels))*pw + float64(len(panels)-1)*gap + mr
	h := mt + ph + mb
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", ml, html.EscapeString(title))

	// Legend from the first panel's series.
	if len(panels) > 0 {
		x := ml
		for _, s := range panels[0].series {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="44" x2="%.1f" y2="44" stroke="%s" stroke-width="2.5"%s/>`+"\n",
				x, x+legendLineWidth, s.color, dash(s.dashed))
			fmt.Fprintf(&b, `<text x="%.1f" y="48">%s</text>`+"\n", x+legendLineWidth+6, html.EscapeString(s.label))
			x += legendLineWidth + 16 + 6.6*float64(len(s.label))
		}
	}

	for i, p := range panels {
		x0 := ml + float64(i)*(pw+gap)
		y0 := mt
		lo, hi := time.Duration(math.MaxInt64), time.Duration(0)
		for _, s := range p.series {
			if s.dist.N() == 0 {
				continue
			}
			lo = min(lo, s.dist.Quantile(0))
			hi = max(hi, s.dist.Quantile(0.999))
		}
		if hi == 0 {
			lo, hi = time.Microsecond, time.Millisecond
		}
		ticks := ticks125(float64(lo), float64(hi))
		bottom, top := math.Log10(ticks[0]), math.Log10(ticks[len(ticks)-1])
		px := func(nines float64) float64 { return x0 + nines/chartMaxNines*pw }
		py := func(ns float64) float64 {
			v := (math.Log10(math.Max(ns, 1)) - bottom) / (top - bottom)
			return y0 + ph - math.Min(math.Max(v, 0), 1)*ph
		}

		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-weight="bold">%s</text>`+"\n", x0, y0-12, html.EscapeString(p.title))
		for _, t := range ticks {
			y := py(t)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`+"\n", x0, y, x0+pw, y)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, y+4, tickLabel(t))
		}
		for n, label := range []string{"0%", "90%", "99%", "99.9%"} {
			x := px(float64(n))
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`+"\n", x, y0, x, y0+ph)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, y0+ph+18, label)
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#888"/>`+"\n", x0, y0, pw, ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">percentile</text>`+"\n", x0+pw/2, y0+ph+38)
		fmt.Fprintf(&b, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle">latency (log scale)</text>`+"\n",
			x0-54, y0+ph/2)

		for _, s := range p.series {
			if s.dist.N() == 0 {
				continue
			}
			var pts []string
			const steps = 240
			for k := 0; k <= steps; k++ {
				nines := float64(k) / steps * chartMaxNines
				q := 1 - math.Pow(10, -nines)
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(nines), py(float64(s.dist.Quantile(q)))))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n",
				s.color, dash(s.dashed), strings.Join(pts, " "))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func dash(d bool) string {
	if d {
		return ` stroke-dasharray="6 4"`
	}
	return ""
}

// ticks125 are the 1, 2, 5 times powers of ten from the largest at or below
// lo to the smallest at or above hi.
func ticks125(lo, hi float64) []float64 {
	lo, hi = math.Max(lo, 1), math.Max(hi, lo)
	var all []float64
	for p := math.Pow(10, math.Floor(math.Log10(lo))); p <= hi*10; p *= 10 {
		all = append(all, p, 2*p, 5*p)
	}
	first, last := 0, len(all)-1
	for first+1 < len(all) && all[first+1] <= lo {
		first++
	}
	for last-1 >= 0 && all[last-1] >= hi {
		last--
	}
	return all[first : last+1]
}

// tickLabel formats nanoseconds as µs or ms.
func tickLabel(ns float64) string {
	if ns >= 1e6 {
		return trimFloat(ns/1e6) + " ms"
	}
	return trimFloat(ns/1e3) + " µs"
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
