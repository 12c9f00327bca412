package sink

import (
	"log/slog"

	"github.com/recapi/recapi/aggregate"
)

// Drainer is the only caller of Drain while recapid traces: every
// interval's counts Drain returns go to the sink, whichever timer asked for
// them, so the sink sees each count once.
type Drainer struct {
	src     Source
	out     *Sink
	log     *slog.Logger
	onDrain func([]aggregate.Record)
}

// OnDrain has f see the records of every drain, after the sink took them
// (recapid's status line counts calls with it).
func (d *Drainer) OnDrain(f func([]aggregate.Record)) { d.onDrain = f }

// NewDrainer returns a Drainer that hands src's counts to out.
func NewDrainer(src Source, out *Sink, log *slog.Logger) *Drainer {
	return &Drainer{src: src, out: out, log: log}
}

// Drain hands the counts made since the last drain to the sink. A drain
// that fails part way returns what it read before the error: that goes to
// the sink too.
func (d *Drainer) Drain() {
	recs, err := d.src.Drain()
	if err != nil {
		d.log.Warn("drain", "err", err)
	}
	d.out.Add(recs)
	if d.onDrain != nil {
		d.onDrain(recs)
	}
}

// Tick drains and then flushes or writes a snapshot, when one is due, so
// that both hold the counts up to now rather than up to the last drain.
func (d *Drainer) Tick() {
	if !d.out.Due() {
		return
	}
	d.Drain()
	d.out.Tick(d.src)
}
