# The two commands a newcomer needs: `make run` and `make test`.
# Everything installs from Debian packages; nothing is downloaded otherwise.

BUILD_DIR ?= build
FUZZ_DIR ?= build-fuzz
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 300
ROLLOUT_DEVICES ?= 10000

# Debian packages the build and the tests use: `make deps` installs them
# with --no-install-recommends, and `make check-deps` (part of `make test`)
# proves the list complete from what the build and the tests really used.
# lld and llvm are listed because CMake and the sanitizers use them when
# present (ld.lld to identify clang's linker, llvm-symbolizer for reports):
# a machine with them must behave like a fresh one.
DEB_PACKAGES := build-essential cmake ninja-build ccache pkg-config \
  libgtest-dev libgmock-dev libbenchmark-dev \
  libssl-dev libmbedtls-dev liblzma-dev zlib1g-dev libbz2-dev libdivsufsort-dev \
  clang lld llvm libclang-rt-14-dev valgrind xz-utils python3 python3-pycryptodome python3-cryptography python3-yaml python3-prometheus-client \
  gcc-riscv64-unknown-elf gcc-xtensa-lx106 gcc-arm-none-eabi \
  bsdiff xdelta3 zstd time openssl curl \
  librestinio-dev libasio-dev libfmt-dev libhttp-parser-dev nlohmann-json3-dev \
  libsoci-dev libpq-dev libboost-dev libsqlite3-dev libcurl4-openssl-dev \
  postgresql nodejs chromium

# npm installs the browser tests' packages (tests/browser/package-lock.json).
# Debian's npm package, unless the installed nodejs already brings npm (as
# NodeSource's does; Debian's npm conflicts with it).
NPM_PACKAGE := npm
BROWSER_DIR := tests/browser

# Only `make bench` needs these (the server load benchmark).
BENCH_PACKAGES := wrk nginx-light

.PHONY: all deps bench-deps build test test-asan check-deps print-packages print-bench-packages \
  bench bench-server bench-rollout bench-release-day run demo fuzz embedded-check clean

all: build

# Installs only what is missing; `apt-get update` runs only when needed.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if ! dpkg-query -W -f='$${Status}' $(NPM_PACKAGE) 2>/dev/null | grep -q "ok installed" && \
	   ! dpkg -S /usr/bin/npm >/dev/null 2>&1; then missing="$$missing $(NPM_PACKAGE)"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing || exit 1; \
	fi
	@# The browser tests' npm packages, exactly as the lockfile has them;
	@# again only when the lockfile changed since the last install.
	@if ! cmp -s $(BROWSER_DIR)/package-lock.json $(BROWSER_DIR)/node_modules/.installed-lock.json 2>/dev/null; then \
	  echo "npm ci in $(BROWSER_DIR)"; \
	  cd $(BROWSER_DIR) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error && \
	  cp package-lock.json node_modules/.installed-lock.json; \
	fi

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Tests see the system's programs only: a warm machine's extras (a pyenv
# python3 first on PATH, ~/.cargo/bin, /usr/local/cuda) are not on a fresh one.
TEST_PATH := /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The recorder (tools/check-deps/record.c) logs every program the tests
# start and every system file they open; check-deps reads the log.
DEPS_RECORD := $(abspath $(BUILD_DIR))/deps-record.log
DEPS_RECORDER := $(abspath $(BUILD_DIR))/lib/libota_deps_record.so

# The sanitizer pass runs first, then the whole suite under the recorder,
# then the dependency check on what the build and the suite used.
test: build test-asan
	@rm -f $(DEPS_RECORD)
	@cd $(BUILD_DIR) && env PATH=$(TEST_PATH) OTA_DEPS_RECORD=$(DEPS_RECORD) LD_PRELOAD=$(DEPS_RECORDER) \
	  ctest --output-on-failure -j $(JOBS) --timeout 900; rc=$$?; \
	  cd $(CURDIR) && $(MAKE) --no-print-directory check-deps || rc=1; \
	  if grep -q '^OTA_TEST_POSTGRES:BOOL=OFF' $(BUILD_DIR)/CMakeCache.txt; then \
	    echo "*** NOT RUN: the PostgreSQL cases (configured with -DOTA_TEST_POSTGRES=OFF) ***"; fi; \
	  exit $$rc

# Every file the build used (Ninja's deps log, link inputs, CMake's finds,
# the libraries each binary loads) and, after `make test`, every program
# and system file the tests used, each mapped to its Debian package: each
# package must be in DEB_PACKAGES or their Depends, or on a fresh Debian 12.
CHECK_PACKAGES ?= $(DEB_PACKAGES)
check-deps:
	@/usr/bin/python3 tools/check-deps/check_deps.py --packages "$(CHECK_PACKAGES)" \
	  --build-dir $(BUILD_DIR) $(if $(wildcard $(ASAN_DIR)/build.ninja),--build-dir $(ASAN_DIR)) \
	  $(if $(wildcard $(DEPS_RECORD)),--record $(DEPS_RECORD)) \
	  --ignore $(CURDIR) --ignore $(abspath $(CURDIR)/../shared) $(if $(OTA_CORPUS),--ignore $(OTA_CORPUS))

print-packages:
	@echo $(DEB_PACKAGES)

print-bench-packages:
	@echo $(BENCH_PACKAGES)

# The format, decoder and encoder suites again under AddressSanitizer and
# UBSan: the decoders must stay in bounds on every corrupt input.
ASAN_DIR ?= build-asan
ASAN_TESTS := format_test lzma_decoder_test patch_decoder_test delta_roundtrip_test device_util_test agent_test
test-asan: deps
	@[ -f $(ASAN_DIR)/build.ninja ] || cmake -S . -B $(ASAN_DIR) -G Ninja -DOTA_SANITIZE=ON -DOTA_BUILD_BENCH=OFF
	cmake --build $(ASAN_DIR) -j $(JOBS) --target $(ASAN_TESTS)
	@for t in $(ASAN_TESTS); do echo "== $$t (ASan+UBSan)"; \
	  $(ASAN_DIR)/bin/$$t --gtest_brief=1 || exit 1; done

bench-deps:
	@missing=""; for p in $(BENCH_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The benchmarks run like the tests: Debian's PATH, the recorder preloaded
# (it acts on exec, open and dlopen only, never on a request's hot path),
# then the dependency check against both lists.
BENCH_RECORD := $(abspath $(BUILD_DIR))/deps-record-bench.log
BENCH_ENV := env PATH=$(TEST_PATH) OTA_DEPS_RECORD=$(BENCH_RECORD) LD_PRELOAD=$(DEPS_RECORDER)

bench: build bench-deps
	@rm -f $(BENCH_RECORD)
	$(BENCH_ENV) bench/run-bench.sh $(BUILD_DIR)
	$(BENCH_ENV) bench/server-bench.sh $(BUILD_DIR)
	$(BENCH_ENV) bench/resume-bench.sh $(BUILD_DIR)
	$(BENCH_ENV) bench/rollout-bench.sh $(BUILD_DIR) $(ROLLOUT_DEVICES)
	$(BENCH_ENV) bench/release-day.sh $(BUILD_DIR) $(RELEASE_DEVICES) $(RELEASE_THREADS)
	@$(MAKE) --no-print-directory check-deps DEPS_RECORD=$(BENCH_RECORD) \
	  CHECK_PACKAGES="$(DEB_PACKAGES) $(BENCH_PACKAGES)"

# Just the rollout benchmark (ROLLOUT_DEVICES simulated devices).
bench-rollout: build
	bench/rollout-bench.sh $(BUILD_DIR) $(ROLLOUT_DEVICES)

# Just the server load benchmark (check-in beside nginx under wrk).
bench-server: build bench-deps
	@rm -f $(BENCH_RECORD)
	$(BENCH_ENV) bench/server-bench.sh $(BUILD_DIR)
	@$(MAKE) --no-print-directory check-deps DEPS_RECORD=$(BENCH_RECORD) \
	  CHECK_PACKAGES="$(DEB_PACKAGES) $(BENCH_PACKAGES)"

# Release day (issue 21): the corpus's 14 WLED releases, RELEASE_DEVICES
# devices over the 13 older ones updating at once, an idle device's
# check-in latency meanwhile; RELEASE_THREADS request threads.
RELEASE_DEVICES ?= 1000
RELEASE_THREADS ?= 2
bench-release-day: build
	bench/release-day.sh $(BUILD_DIR) $(RELEASE_DEVICES) $(RELEASE_THREADS)

# A newcomer's first five minutes: server, a simulated device, two firmware
# versions, one delta update shown step by step (tools/demo/demo.sh).
demo: build
	tools/demo/demo.sh $(BUILD_DIR)

embedded-check: deps
	tools/embedded-check/embedded-check.sh . $(BUILD_DIR)/embedded-check

# Long fuzzing runs with libFuzzer (the test suite runs each target briefly).
fuzz: deps
	cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	  -DCMAKE_AR=$$(command -v ar) -DCMAKE_RANLIB=$$(command -v ranlib) \
	  -DOTA_BUILD_FUZZ=ON -DOTA_BUILD_TESTS=OFF -DOTA_BUILD_BENCH=OFF
	cmake --build $(FUZZ_DIR) -j $(JOBS)
	fuzz/run-fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

run: build
	@if [ -x $(BUILD_DIR)/bin/ota-server ]; then \
	  $(BUILD_DIR)/bin/ota-server --data ./var --listen 127.0.0.1:8000; \
	else \
	  echo "ota-server is not part of this build yet (see the server issue); tools built in $(BUILD_DIR)/bin:"; \
	  ls $(BUILD_DIR)/bin; exit 1; \
	fi

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_DIR) $(ASAN_DIR)
