package tracer

import (
	"time"

	"github.com/recapi/recapi/aggregate"
	"github.com/recapi/recapi/bpf"
)

// holdNames is how long a count whose descriptions have not arrived waits
// for them. BPF sends a signature again at the next call of its shape when
// the ring buffer refused it (enum count_bits), so a shape that is still
// called is named within a drain or two; one never called again is
// recorded without its types when this runs out, or when its process ends.
const holdNames = 30 * time.Second

// heldCount is a count drained before the descriptions its record needs.
type heldCount struct {
	n     uint64
	since time.Time
}

// The methods of this file are called with tg.mu held.

// describable reports whether every description a record of k needs has
// arrived: its arguments' (the code objects and types it names are read
// from the process when their events were lost).
func (tg *target) describable(k *bpf.CallKey) bool {
	if k.Kind&^bpf.CallPending == bpf.CallResume || k.Nparams == 0 {
		return true
	}
	_, ok := tg.sigs[k.Sig]
	return ok
}

// valueDescribable is describable for a count of calls that ended, whose
// returned or yielded value may need a container's description too.
func (tg *target) valueDescribable(k *bpf.OutcomeKey) bool {
	if !tg.describable(&k.Call) {
		return false
	}
	if k.Value&1 != 0 && (k.Outcome == bpf.OutcomeReturned || k.Outcome == bpf.OutcomeYielded) {
		_, ok := tg.values[k.Value]
		return ok
	}
	return true
}

// countCall adds n calls of shape k to delta, or holds them until their
// descriptions arrive.
func (tg *target) countCall(k *bpf.CallKey, n uint64, now time.Time, delta *aggregate.Aggregator) {
	if !tg.describable(k) {
		if tg.heldCalls == nil {
			tg.heldCalls = map[bpf.CallKey]heldCount{}
		}
		h := tg.heldCalls[*k]
		if h.n == 0 {
			h.since = now
		}
		h.n += n
		tg.heldCalls[*k] = h
		return
	}
	delta.Add(tg.record(k, n))
}

// countOutcome is countCall for n calls that ended as k says.
func (tg *target) countOutcome(k *bpf.OutcomeKey, n uint64, now time.Time, delta *aggregate.Aggregator) {
	if !tg.valueDescribable(k) {
		if tg.heldOutcomes == nil {
			tg.heldOutcomes = map[bpf.OutcomeKey]heldCount{}
		}
		h := tg.heldOutcomes[*k]
		if h.n == 0 {
			h.since = now
		}
		h.n += n
		tg.heldOutcomes[*k] = h
		return
	}
	delta.Add(tg.outcomeRecord(k, n))
}

// releaseHeld adds to delta the held counts whose descriptions have
// arrived, and, when final (no more events can come for the process) or
// once they waited holdNames, the others without their types: record
// counts them as signatures_unknown and marks them partial.
func (tg *target) releaseHeld(now time.Time, final bool, delta *aggregate.Aggregator) {
	for k, h := range tg.heldCalls {
		if final || now.Sub(h.since) >= holdNames || tg.describable(&k) {
			delta.Add(tg.record(&k, h.n))
			delete(tg.heldCalls, k)
		}
	}
	for k, h := range tg.heldOutcomes {
		if final || now.Sub(h.since) >= holdNames || tg.valueDescribable(&k) {
			delta.Add(tg.outcomeRecord(&k, h.n))
			delete(tg.heldOutcomes, k)
		}
	}
}

// held is the number of counts waiting for their descriptions.
func (tg *target) held() int {
	return len(tg.heldCalls) + len(tg.heldOutcomes)
}
