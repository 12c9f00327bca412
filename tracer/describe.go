package tracer

import (
	"strings"

	"github.com/recapi/recapi/bpf"
)

// describe renders the type description nodes of one value (see
// include/events.h): "builtins.dict[builtins.str, builtins.list[builtins.int]]".
func (tg *target) describe(nodes []uint64) (string, bool) {
	i, partial := 0, false
	var walk func(depth int, inTuple bool) string
	walk = func(depth int, inTuple bool) string {
		if i >= len(nodes) {
			partial = true
			return ""
		}
		tp := nodes[i]
		i++
		tm := tg.typeName(tp)
		partial = partial || tm.partial
		kind := tg.containerKind(tp)
		if kind < 0 || depth == 2 || (depth == 1 && inTuple) || i >= len(nodes) {
			return tm.name
		}
		hdr := nodes[i]
		i++
		switch {
		case hdr == bpf.NodeUnexpanded:
			return tm.name
		case hdr == bpf.NodeHdr:
			return tm.name + "[()]"
		case hdr == bpf.NodeLongTuple:
			return tm.name + "[" + walk(depth+1, true) + ", ...]"
		case hdr&^0xff == bpf.NodeHdr && hdr&0xff <= bpf.MaxElems:
			parts := make([]string, hdr&0xff)
			for j := range parts {
				parts[j] = walk(depth+1, kind == int(bpf.ContainerTuple))
			}
			return tm.name + "[" + strings.Join(parts, ", ") + "]"
		}
		partial = true
		return tm.name
	}
	if len(nodes) == 0 {
		return "", true
	}
	return walk(0, false), partial
}

// containerKind is the index of tp in the process's container types (a
// bpf.ContainerType), or -1.
func (tg *target) containerKind(tp uint64) int {
	if tp == 0 {
		return -1
	}
	for i, c := range tg.containers {
		if c == tp {
			return i
		}
	}
	return -1
}
