// Package bpf holds recapid's BPF programs and their Go bindings.
//
// The generated files (recapi_x86_bpfel.go and .o) are committed, so building
// the Go code needs no clang; `make generate` rebuilds them with the pinned
// clang and CI checks that they are not stale.
package bpf

// Only amd64: the probe placement in pyelf decodes x86-64 machine code.
//go:generate go tool bpf2go -cc clang-16 -strip llvm-strip-16 -tags linux -target amd64 -type py_config -type call_key -type event_header -type sig_event -type outcome_key -type frame_key -type pending_call -type code_event -type type_event -type stat_index -type probe_kind -type frame_reg -type limits -type cfg_flags -type node_hdr -type container_type -type dict_flavor -type call_kind -type outcome -type event_type -type str_flags -type code_defaults -type cookie_layout -type count_bits recapi recapi.bpf.c -- -mcpu=v3 -Wall -Werror
