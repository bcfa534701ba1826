package bench

import (
	"fmt"
	"image/color"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot draws the result's figures as PNG files in dir and returns their
// paths: for ingest, entries/s against batch size (one client) and against
// client count (single events), one line per system; for proofs, the p50
// latency against tree size, one line per kind. Other workloads have no
// plot (nil, nil).
func Plot(r *Result, dir string) ([]string, error) {
	switch r.Workload {
	case "ingest":
		var out []string
		for _, c := range []struct {
			file, title, x string
			pick           func(Row) (float64, bool)
		}{
			{"ingest-batch.png", "Durable ingest, one client", "events per call (batch size)", func(row Row) (float64, bool) {
				return float64(row.Batch), row.Clients == 1
			}},
			{"ingest-clients.png", "Durable ingest, one event per call", "concurrent clients", func(row Row) (float64, bool) {
				return float64(row.Clients), row.Batch == 1
			}},
		} {
			path := filepath.Join(dir, c.file)
			if err := plotLines(r, path, c.title, c.x, "entries/s", true, c.pick, func(row Row) float64 { return row.Value }); err != nil {
				return out, err
			}
			out = append(out, path)
		}
		return out, nil
	case "proofs":
		path := filepath.Join(dir, "proofs.png")
		err := plotLines(r, path, "Proof latency (p50)", "tree size (entries)", "µs", false, func(row Row) (float64, bool) {
			return float64(row.Size), row.Series != "http-floor"
		}, func(row Row) float64 { return row.P50 * 1000 })
		if err != nil {
			return nil, err
		}
		return []string{path}, nil
	}
	return nil, nil
}

// plotLines draws one line per series of the rows pick accepts, x from pick
// and y from y, on log-log axes, into a PNG at path, with the legend at the
// top left or (legendTop false) the bottom right.
func plotLines(r *Result, path, title, xlabel, ylabel string, legendTop bool, pick func(Row) (float64, bool), y func(Row) float64) error {
	series := map[string]plotter.XYs{}
	var names []string
	for _, row := range r.Rows {
		if row.Series == "" || row.Series == "sha256" {
			continue
		}
		x, ok := pick(row)
		if !ok || x <= 0 || y(row) <= 0 {
			continue
		}
		if _, seen := series[row.Series]; !seen {
			names = append(names, row.Series)
		}
		series[row.Series] = append(series[row.Series], plotter.XY{X: x, Y: y(row)})
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s (%s, %d CPUs)", title, r.Started.Format("2006-01-02 15:04 UTC"), r.Machine.CPUs)
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = legendTop, legendTop
	p.Add(plotter.NewGrid())
	for i, name := range names {
		pts := series[name]
		if len(pts) < 1 {
			continue
		}
		slices.SortFunc(pts, func(a, b plotter.XY) int {
			switch {
			case a.X < b.X:
				return -1
			case a.X > b.X:
				return 1
			}
			return 0
		})
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("couldn't plot %s: %w", name, err)
		}
		c := palette[i%len(palette)]
		line.Color, points.Color = c, c
		line.Width = vg.Points(1.5)
		points.Shape = draw.CircleGlyph{}
		p.Add(line, points)
		p.Legend.Add(name, line, points)
	}
	if err := p.Save(7*vg.Inch, 4.5*vg.Inch, path); err != nil {
		return fmt.Errorf("couldn't save %s: %w", path, err)
	}
	return nil
}

var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff},
	color.RGBA{0xd6, 0x27, 0x28, 0xff},
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xff, 0x7f, 0x0e, 0xff},
	color.RGBA{0x94, 0x67, 0xbd, 0xff},
	color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	color.RGBA{0x7f, 0x7f, 0x7f, 0xff},
}
