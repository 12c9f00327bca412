module github.com/recapi/recapi

go 1.26.8

require (
	github.com/cilium/ebpf v0.22.0 // indirect
	github.com/klauspost/compress v1.18.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/arch v0.32.0 // indirect
	golang.org/x/sys v0.43.0 // indirect
)

tool github.com/cilium/ebpf/cmd/bpf2go
