# Thin wrapper around scripts/install-deps, CMake and CTest; the build itself is CMakeLists.txt.
#   make deps | build | test | demo | sanitize | install | clean
# Variables: BUILD_DIR (build), ASAN_DIR (build-asan), BUILD_TYPE (RelWithDebInfo),
#            JOBS (nproc), CTEST_JOBS (2), PREFIX (for install; default CMAKE_INSTALL_PREFIX),
#            CMAKE_ARGS (extra configure arguments).
BUILD_DIR  ?= build
ASAN_DIR   ?= build-asan
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

.PHONY: all deps build test demo sanitize install clean

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

install:
	cmake --install $(BUILD_DIR) $(if $(PREFIX),--prefix $(PREFIX))

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
