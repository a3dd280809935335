# Thin wrapper around scripts/install-deps, CMake and CTest; the build itself is CMakeLists.txt.
#   make deps | build | test | demo | sanitize | sanitize-clang | fuzz | install | clean
# Variables: BUILD_DIR (build), ASAN_DIR (build-asan), CLANG_DIR (build-clang),
#            BUILD_TYPE (RelWithDebInfo),
#            JOBS (nproc), CTEST_JOBS (2), PREFIX (for install; default CMAKE_INSTALL_PREFIX),
#            CMAKE_ARGS (extra configure arguments).
BUILD_DIR  ?= build
ASAN_DIR   ?= build-asan
CLANG_DIR  ?= build-clang
# make fuzz: seconds per harness, parallel jobs (libFuzzer -fork), which harnesses
FUZZ_SECONDS ?= 600
FUZZ_JOBS    ?= 2
FUZZ_TARGETS ?= job data ckpt
# make sanitize-clang: the integration tests run besides the unit and fuzz tests, and the unit
# tests left out (the simulators' tests and the finite-difference checks take minutes each
# under clang's sanitizers; gcc's `make sanitize` runs them)
CLANG_IT     ?= bad_inputs|train_cli|resume|autoencoder
CLANG_SKIP   ?= unit_test_sim_|^fd_
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_JOBS ?= 2
CMAKE_ARGS ?=
PREFIX     ?=

# Open MPI refuses to run as root unless told; tests, the demo and CI run as root.
ifeq ($(shell id -u),0)
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1
endif

MAKEFLAGS += --no-print-directory

.PHONY: all deps build test demo sanitize sanitize-clang clang-build fuzz install clean

all: build

deps:
	scripts/install-deps

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCASCADE_WERROR=ON $(CMAKE_ARGS)
	cmake --build $(BUILD_DIR) -j$(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(CTEST_JOBS)

demo: build
	BUILD_DIR=$(BUILD_DIR) bash scripts/demo.sh

# AddressSanitizer + UBSan build; runs the unit tests (and the PyTorch reference cases they
# need). Leak detection stays on; scripts/lsan.supp hides what Open MPI allocates at
# MPI_Init and never frees (it needs the slow, full unwinder to see those stacks).
sanitize: deps
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DCASCADE_SANITIZE=ON -DCASCADE_WERROR=ON $(CMAKE_ARGS)
	cmake --build $(ASAN_DIR) -j$(JOBS)
	cd $(ASAN_DIR) && \
	  ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0} \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(CTEST_JOBS) -L unit

# The same sanitizers with clang (their UBSan checks more, e.g. pointer arithmetic on NULL),
# in one build with the libFuzzer harnesses (CASCADE_FUZZ, tests/fuzz/README.md): the unit
# tests but the simulators' (CLANG_SKIP), a bounded run of each harness (label fuzz) and a few
# integration tests (CLANG_IT).
SAN_ENV = ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0} \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

clang-build: deps
	CC=clang cmake -S . -B $(CLANG_DIR) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DCASCADE_SANITIZE=ON \
	  -DCASCADE_FUZZ=ON -DCASCADE_WERROR=ON $(CMAKE_ARGS)
	cmake --build $(CLANG_DIR) -j$(JOBS)

sanitize-clang: clang-build
	cd $(CLANG_DIR) && $(SAN_ENV) ctest --output-on-failure -j$(CTEST_JOBS) -L 'unit|fuzz' -E '$(CLANG_SKIP)'
	cd $(CLANG_DIR) && $(SAN_ENV) ctest --output-on-failure -j$(CTEST_JOBS) -R '^it_($(CLANG_IT))$$'

# Long fuzzing runs: FUZZ_SECONDS per harness in libFuzzer's fork mode (FUZZ_JOBS processes);
# crashes are collected, and each is classed as ours or a known libhdf5 defect at the end.
fuzz: clang-build
	cd $(CLANG_DIR) && ctest --output-on-failure -R '^fuzz_seeds$$'
	cd $(CLANG_DIR) && for h in $(FUZZ_TARGETS); do \
	  if [ $$h = job ] ; then seeds=$(CURDIR)/tests/fuzz/corpus/job; leaks=1; \
	  else seeds=fuzz/seeds/$$h; leaks=0; fi; \
	  echo "=== fuzz_$$h for $(FUZZ_SECONDS) s"; \
	  ASAN_OPTIONS=detect_leaks=$$leaks:fast_unwind_on_malloc=0 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp:print_suppressions=0 \
	  CASCADE_FUZZ_SEEDS=$$PWD/fuzz/seeds CASCADE_FUZZ_FORK=$(FUZZ_JOBS) OMP_NUM_THREADS=1 \
	  $(CURDIR)/tests/fuzz/run_fuzz.sh tests/fuzz/fuzz_$$h fuzz/work/$$h $$seeds \
	    -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

install:
	cmake --install $(BUILD_DIR) $(if $(PREFIX),--prefix $(PREFIX))

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(CLANG_DIR)
