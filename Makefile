# recapi: record how Python code is really called, from outside the process.
SHELL      := /bin/bash
GO         ?= go
BIN        := bin
SUDO       := $(if $(filter 0,$(shell id -u)),,sudo -E)
DEMO_PY    ?= /usr/bin/python3.11
GOTESTFLAGS ?=

.PHONY: help deps build generate check-generated test test-unit test-privileged vmtest bench bench-realcode lint fmt demo update-golden update-fixtures update-layouts clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

deps: ## install what the build and tests need: Debian packages, test roots with Debian's 3.13, 3.14 and 3.15 (root)
	$(SUDO) scripts/install-deps.sh
	$(SUDO) scripts/make-testroots.sh

build: ## build bin/recapid and bin/recapi
	$(GO) build -o $(BIN)/recapid ./cmd/recapid
	$(GO) build -o $(BIN)/recapi ./cmd/recapi

generate: ## rebuild the BPF objects and Go bindings (needs clang-16)
	cd bpf && $(GO) generate ./...

check-generated: generate ## fail when the committed BPF objects are stale
	@git diff --exit-code --stat -- bpf/ || { echo "generated BPF files are stale: run make generate and commit"; exit 1; }

test: ## all tests; privileged ones run as root (and must, with RECAPI_PRIVILEGED_TESTS=1)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m $(GOTESTFLAGS) ./...

test-unit: ## every package's tests that need no root; privileged ones skip, even as root
	RECAPI_SKIP_PRIVILEGED_TESTS=1 $(GO) test -count=1 -timeout 40m $(GOTESTFLAGS) ./...

test-privileged: ## the privileged integration tests, required to run
	RECAPI_PRIVILEGED_TESTS=1 $(SUDO) $(GO) test -count=1 -timeout 40m ./bpf/... ./cmd/recapid/... ./tracer/... ./sink/... ./store/... ./internal/...

vmtest: ## the kernel matrix: boot Debian's 6.1, 6.12 and sid kernels under qemu, run the privileged checks in each (root)
	$(SUDO) scripts/vmtest.sh

bench: build ## per-call cost per interpreter and aggregate benchmarks; see BENCHMARKS.md
	$(GO) test -run '^$$' -bench . -benchmem ./aggregate/...
	$(SUDO) $(GO) test -run '^$$' -bench BenchmarkUpsert -benchtime=1x -timeout 30m ./store/ -args -bench-records=1000000
	$(SUDO) $(GO) run ./internal/bench -recapid $(BIN)/recapid
	$(GO) run ./internal/benchmerge -recapi $(BIN)/recapi

bench-realcode: build ## time CPython's test modules untraced, under in-process recorders and under recapid, idle and busy (root; BENCHMARKS.md, "Real code")
	$(SUDO) scripts/bench-realcode.sh

lint: ## go vet and gofmt
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v _bpfel.go))" || { gofmt -l $$(git ls-files '*.go' | grep -v _bpfel.go); exit 1; }

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go' | grep -v _bpfel.go)

demo: build ## trace the bundled demo app and show what was recorded
	$(SUDO) $(BIN)/recapid --summary=false -o demo.recapi.zst -- $(DEMO_PY) testdata/demo/app.py
	$(BIN)/recapi show demo.recapi.zst

update-golden: ## rewrite golden files after an intended output change
	$(GO) test ./internal/table/... ./cmd/recapi/... -update

update-fixtures: build ## re-record testdata/fixtures/*.recapi.zst from the testdata workloads (root: runs recapid)
	$(SUDO) $(BIN)/recapid --summary=false -o testdata/fixtures/calls.recapi.zst -- $(DEMO_PY) testdata/workloads/calls.py
	$(SUDO) $(BIN)/recapid --summary=false -o testdata/fixtures/demo.recapi.zst -- $(DEMO_PY) testdata/demo/app.py
	@echo "fixtures re-recorded: run make update-golden and review the diff"

update-layouts: ## regenerate cpython/testdata/layouts/: gdb over the DWARF of pyenv 3.8-3.13 and sid's python3.14d/3.15d, dis.opmap, _Py_DebugOffsets (root: chroot)
	$(GO) test -count=1 -run '^TestLayoutsMatchFixtures$$' ./cpython/ -update-layouts
	@git diff --stat -- cpython/testdata/layouts/

clean: ## remove build outputs
	rm -rf $(BIN) demo.recapi.zst
