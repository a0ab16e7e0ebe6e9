# The two commands a newcomer needs: `make run` and `make test`.
# Everything installs from Debian packages; nothing is downloaded otherwise.

BUILD_DIR ?= build
FUZZ_DIR ?= build-fuzz
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 300

# Debian packages the build, tests and benchmarks use.
DEB_PACKAGES := build-essential cmake ninja-build ccache pkg-config \
  libgtest-dev libgmock-dev libbenchmark-dev \
  libssl-dev libmbedtls-dev liblzma-dev zlib1g-dev libbz2-dev libdivsufsort-dev \
  clang libclang-rt-14-dev valgrind xz-utils python3 python3-pycryptodome python3-cryptography \
  gcc-riscv64-unknown-elf gcc-xtensa-lx106 gcc-arm-none-eabi \
  bsdiff xdelta3 zstd time \
  librestinio-dev libasio-dev libfmt-dev libhttp-parser-dev nlohmann-json3-dev \
  libsoci-dev libsqlite3-dev libcurl4-openssl-dev

.PHONY: all deps bench-deps build test test-asan bench bench-server run demo fuzz embedded-check clean

# Only `make bench` needs these (the server load benchmark).
BENCH_PACKAGES := wrk nginx-light

all: build

# Installs only what is missing; `apt-get update` runs only when needed.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The sanitizer pass runs first so that CTest's summary is the last line.
test: build test-asan
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 900

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

bench: build bench-deps
	bench/run-bench.sh $(BUILD_DIR)
	bench/server-bench.sh $(BUILD_DIR)
	bench/resume-bench.sh $(BUILD_DIR)

# Just the server load benchmark (check-in beside nginx under wrk).
bench-server: build bench-deps
	bench/server-bench.sh $(BUILD_DIR)

# A newcomer's first five minutes: server, a simulated device, two firmware
# versions, one delta update shown step by step (tools/demo/demo.sh).
demo: build
	tools/demo/demo.sh $(BUILD_DIR)

embedded-check: deps
	tools/embedded-check/embedded-check.sh . $(BUILD_DIR)/embedded-check

# Long fuzzing runs with libFuzzer (the test suite runs each target briefly).
fuzz: deps
	cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
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
