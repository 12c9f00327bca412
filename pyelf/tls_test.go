package pyelf

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tlsTestGOT is a fake GOT: DTPOFF64 words of GOT pairs and TP offsets of
// GOT slots by address.
type tlsTestGOT struct {
	dtpoff map[uint64]int64
	tpoff  map[uint64]int64 // absent: filled in at load time
}

func (g tlsTestGOT) dtpOffset(got uint64) (int64, error) {
	off, ok := g.dtpoff[got]
	if !ok {
		return 0, errors.New("no DTPMOD64 relocation")
	}
	return off, nil
}

func (g tlsTestGOT) tpOffset(got uint64) (int64, bool, error) {
	off, ok := g.tpoff[got]
	return off, ok, nil
}

func TestDecodeTLSAccess(t *testing.T) {
	const pc = 0x290a40
	var (
		subRSP      = []byte{0x48, 0x83, 0xec, 0x08}                               // sub $0x8,%rsp
		gdLea       = []byte{0x66, 0x48, 0x8d, 0x3d, 0x10, 0x00, 0x00, 0x00}       // data16 lea 0x10(%rip),%rdi
		gdCall      = []byte{0x66, 0x66, 0x48, 0xe8, 0x00, 0x00, 0x00, 0x00}       // data16 data16 rex.W call __tls_get_addr
		ldLea       = []byte{0x48, 0x8d, 0x3d, 0x10, 0x00, 0x00, 0x00}             // lea 0x10(%rip),%rdi
		call        = []byte{0xe8, 0x00, 0x00, 0x00, 0x00}                         // call __tls_get_addr
		loadRAX     = []byte{0x48, 0x8b, 0x00}                                     // mov (%rax),%rax
		load10RAX   = []byte{0x48, 0x8b, 0x80, 0x10, 0x00, 0x00, 0x00}             // mov 0x10(%rax),%rax
		leMinus8    = []byte{0x64, 0x48, 0x8b, 0x04, 0x25, 0xf8, 0xff, 0xff, 0xff} // mov %fs:0xfffffffffffffff8,%rax
		leTCB       = []byte{0x64, 0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00} // mov %fs:0x0,%rax
		loadM16RAX  = []byte{0x48, 0x8b, 0x80, 0xf0, 0xff, 0xff, 0xff}             // mov -0x10(%rax),%rax
		ieLoad      = []byte{0x48, 0x8b, 0x05, 0x20, 0x00, 0x00, 0x00}             // mov 0x20(%rip),%rax
		ieFS        = []byte{0x64, 0x48, 0x8b, 0x00}                               // mov %fs:(%rax),%rax
		ieAddTCB    = []byte{0x64, 0x48, 0x03, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00} // add %fs:0x0,%rax
		ret         = []byte{0xc3}
		xorEAX      = []byte{0x31, 0xc0}
		gdPair      = uint64(pc + 4 + 8 + 0x10)
		ldPair      = uint64(pc + 7 + 0x10)
		ieSlot      = uint64(pc + 7 + 0x20)
		ieSlotAfter = uint64(pc + 4 + 7 + 0x20)
	)
	got := tlsTestGOT{
		dtpoff: map[uint64]int64{gdPair: 0x18, ldPair: 0},
		tpoff:  map[uint64]int64{ieSlot: -0x40},
	}
	tests := []struct {
		name    string
		code    [][]byte
		want    TState
		wantErr bool
	}{
		{
			name: "general dynamic (shared libpython 3.12, 3.13)",
			code: [][]byte{subRSP, gdLea, gdCall, loadRAX, ret},
			want: TState{Kind: TStateTLSGeneralDynamic, Addr: gdPair, Offset: 0x18},
		},
		{
			name: "local dynamic",
			code: [][]byte{ldLea, call, load10RAX, ret},
			want: TState{Kind: TStateTLSGeneralDynamic, Addr: ldPair, Offset: 0x10},
		},
		{
			name: "local exec after endbr64 (static libpython)",
			code: [][]byte{{0xf3, 0x0f, 0x1e, 0xfa}, leMinus8, ret},
			want: TState{Kind: TStateTLSLocalExec, Offset: -8},
		},
		{
			name: "local exec through the TCB pointer",
			code: [][]byte{leTCB, loadM16RAX, ret},
			want: TState{Kind: TStateTLSLocalExec, Offset: -16},
		},
		{
			name: "initial exec with a fixed slot",
			code: [][]byte{ieLoad, ieFS, ret},
			want: TState{Kind: TStateTLSInitialExec, Addr: ieSlot, Offset: -0x40},
		},
		{
			name: "initial exec filled in at load time",
			code: [][]byte{subRSP, ieLoad, ieAddTCB, loadRAX, ret},
			want: TState{Kind: TStateTLSInitialExec, Addr: ieSlotAfter},
		},
		{
			name: "unrecognized",
			code: [][]byte{xorEAX, ret},
			want: TState{Kind: TStateNone},
		},
		{
			name:    "general dynamic without its relocation",
			code:    [][]byte{subRSP, subRSP, gdLea, gdCall, loadRAX}, // the pair address differs from gdPair
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			insns := probeTestDecode(t, pc, tt.code...)
			got, err := decodeTLSAccess(insns, got)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want.Kind, got.Kind, got.Desc)
			assert.Equal(t, tt.want.Addr, got.Addr, got.Desc)
			assert.Equal(t, tt.want.Offset, got.Offset, got.Desc)
			if got.Kind != TStateNone {
				assert.NotEmpty(t, got.Desc)
			}
		})
	}
}

func TestTStateKindString(t *testing.T) {
	assert.Equal(t, "tls-general-dynamic", TStateTLSGeneralDynamic.String())
	assert.Equal(t, "runtime-global", TStateRuntimeGlobal.String())
	assert.Equal(t, "TStateKind(9)", TStateKind(9).String())
}

// FuzzDecodeTLSAccess feeds arbitrary code to the TLS decoder.
func FuzzDecodeTLSAccess(f *testing.F) {
	f.Add([]byte{0x66, 0x48, 0x8d, 0x3d, 0x10, 0, 0, 0, 0x66, 0x66, 0x48, 0xe8, 0, 0, 0, 0, 0x48, 0x8b, 0x00, 0xc3})
	f.Add([]byte{0x64, 0x48, 0x8b, 0x04, 0x25, 0xf8, 0xff, 0xff, 0xff, 0xc3})
	f.Add([]byte{0x48, 0x8b, 0x05, 0x20, 0, 0, 0, 0x64, 0x48, 0x8b, 0x00})
	f.Fuzz(func(t *testing.T, code []byte) {
		insns, _ := decodeRun(code, 0x1000, 16, func(probeInsn) bool { return false })
		_, _ = decodeTLSAccess(insns, tlsTestGOT{dtpoff: map[uint64]int64{0x1018: 8}})
	})
}
