# hangar — the newcomer's entry points. Each target installs what is missing first.
#   make run    build and start hangard on 127.0.0.1:7770 with data in ./hangar-data, serving
#               the rooms demo page at /examples/ (examples/rooms/README.md)
#   make test   format check, unit tests (plain and under ASan+UBSan), then the end-to-end
#               suite against the ASan+UBSan daemon, on SQLite, again on PostgreSQL, and again
#               with every daemon a 3-node cluster
#   make cluster  a private PostgreSQL and 3 hangard nodes on loopback (docs/cluster.md)
#   make bench  benchmarks beside the peers; writes bench/RESULTS.md
#   make fuzz   builds the libFuzzer drivers and runs each briefly
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
LISTEN     ?= 127.0.0.1:7770
DATA       ?= ./hangar-data
PYTHON     ?= /usr/bin/python3
FUZZ_SECONDS ?= 20

.PHONY: all deps build build-asan run cluster test unit unit-asan e2e e2e-asan bench bench-cluster crash fuzz format format-check clean

all: build

deps:
	@scripts/deps

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DHG_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)

run: build
	$(BUILD)/hangard --listen $(LISTEN) --data $(DATA) --examples-dir examples/rooms

# The store tests also run on a private PostgreSQL (scripts/with-pg starts one and stops it).
unit: build
	scripts/with-pg $(BUILD)/unit_tests

unit-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  scripts/with-pg $(ASAN_BUILD)/unit_tests

# The end-to-end suite three times: every daemon on the embedded store, then every daemon on a
# database of its own on a private PostgreSQL (the cluster mode's store; tests that read
# hangar.db themselves run in the first pass only), then every daemon as 3 nodes on its database
# with the clients' calls spread across them (docs/cluster.md, "Tests").
e2e: build
	HANGARD=$(abspath $(BUILD))/hangard $(PYTHON) tests/e2e/run.py
	HANGARD=$(abspath $(BUILD))/hangard $(PYTHON) tests/e2e/run.py --store postgres
	HANGARD=$(abspath $(BUILD))/hangard $(PYTHON) tests/e2e/run.py --cluster 3

# The same against the daemon built with ASan+UBSan: a memory error or a leak at exit fails the
# test that drove it.
e2e-asan: build-asan
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  HANGARD=$(abspath $(ASAN_BUILD))/hangard $(PYTHON) tests/e2e/run.py
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  HANGARD=$(abspath $(ASAN_BUILD))/hangard $(PYTHON) tests/e2e/run.py --store postgres
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  HANGARD=$(abspath $(ASAN_BUILD))/hangard $(PYTHON) tests/e2e/run.py --cluster 3

test: format-check unit unit-asan e2e-asan

# Cluster mode on this machine: a private PostgreSQL and 3 nodes on 127.0.0.1:7771-7773
# (docs/cluster.md). Ctrl-C stops it.
cluster: build
	scripts/cluster ./hangar-cluster

bench: build
	bench/run.sh

# Issue #16's benchmark: 1 node embedded vs 1 node on PostgreSQL vs 3 nodes (bench/cluster.sh)
bench-cluster: build
	bench/cluster.sh

# The full crash test of purchases and credits (100 kill -9s); `make test` runs a short one
# (tests/e2e/08-wallet-crash.py).
crash: build
	HANGARD=$(abspath $(BUILD))/hangard $(PYTHON) tests/crash/wallet_crash.py --rounds 100

fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DHG_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS)
	fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

C_SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

format:
	clang-format -i $(C_SOURCES)

format-check: deps
	@clang-format --dry-run -Werror $(C_SOURCES) && echo 'format-check: ok'

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
