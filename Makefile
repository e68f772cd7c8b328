# qmesh — two commands on a fresh Debian bookworm machine:
#   make run    build and start a node
#   make test   build and pass every test
# Both install missing Debian packages first (needs root or sudo).

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)

DEB_PACKAGES := g++ cmake make ccache libcaf-dev libspdlog-dev \
  libboost-program-options-dev nlohmann-json3-dev libssl-dev python3 \
  clang libclang-rt-14-dev python3-stomp python3-websockets chromium \
  openssl
# Node.js for the web pages' npm packages and the browser tests: Debian's,
# unless `node` and `npm` are already there (from any source).
DEB_PACKAGES += $(shell command -v node >/dev/null 2>&1 || echo nodejs) \
  $(shell command -v npm >/dev/null 2>&1 || echo npm)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# `make deb`: the Debian packages (qmesh_VERSION_ARCH.deb and, the client
# library, qmesh-dev_VERSION_ARCH.deb) in their own build directory,
# DEB_BUILD_DIR; QMESH_PACKAGE_CONTACT in the environment sets their
# Maintainer (docs/operations.md, "Install").
DEB_BUILD_DIR ?= build-deb
DEB_TOOLS := help2man dpkg-dev

# `make fuzz`: the STOMP codec under libFuzzer (clang, ASan, UBSan), built in
# its own directory, for FUZZ_SECONDS; `make test` runs it for 20 s.
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 600

.PHONY: deps deb-deps deb web-deps build test run screenshots bench bench-stomp bench-ws bench-persistent bench-cluster compare-deps compare compare-quick fuzz clean

# A recipe line that installs those of the Debian packages $(1) that are
# missing.
install_missing = @missing=$$(for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

deps:
	$(call install_missing,$(DEB_PACKAGES))

deb-deps:
	$(call install_missing,$(DEB_TOOLS))

deb: deps web-deps deb-deps
	JOBS=$(JOBS) sh packaging/build-deb.sh $(DEB_BUILD_DIR)

$(BUILD_DIR)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

# The web pages' npm packages (web/package-lock.json), installed again
# whenever the lock file is newer than web/node_modules.
web/node_modules/.package-lock.json: web/package-lock.json web/package.json
	cd web && npm ci --no-audit --no-fund
	touch $@

web-deps: deps web/node_modules/.package-lock.json

build: deps web-deps $(BUILD_DIR)/Makefile
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

run: build
	@echo "qmesh: starting queue manager QM1 on 127.0.0.1:7700 (Ctrl-C stops it)"
	@echo "qmesh: try  $(BUILD_DIR)/qmesh status  or  $(BUILD_DIR)/qmesh put ORDERS hello"
	@echo "qmesh: web console http://127.0.0.1:7780/  chat http://127.0.0.1:7780/chat/"
	$(BUILD_DIR)/qmesh-node --config config/qm1.ini

# docs/img/console.png and docs/img/chat.png from a fresh node.
screenshots: build
	node tests/browser/screenshots.mjs

bench: build
	$(BUILD_DIR)/qmesh-bench-core

# STOMP load generator against a fresh node (docs/benchmarks.md).
bench-stomp: build
	sh bench/run_stomp.sh $(BUILD_DIR) --scenario all

# STOMP over WebSocket: one sender, 100 subscribers on a topic, against a
# fresh node (docs/benchmarks.md).
bench-ws: build
	python3 bench/ws_fanout.py --build $(BUILD_DIR)

# Confirmed persistent puts over STOMP, node data on disk (docs/benchmarks.md).
bench-persistent: build
	sh bench/run_persistent.sh $(BUILD_DIR)

# Three nodes on loopback: local vs remote puts, a 3-node ring, join time
# (docs/benchmarks.md).
bench-cluster: build
	sh bench/run_cluster.sh $(BUILD_DIR)

# `make compare`: qmesh vs RabbitMQ vs ActiveMQ over STOMP, one broker at a
# time, private instances on loopback; rewrites the compare section of
# docs/benchmarks.md and docs/img/compare-*.png. COMPARE_RUNS runs per
# scenario; COMPARE_SCALE multiplies qmesh-bench's message counts and
# durations; COMPARE_ARGS go to qmesh-bench as they are; QMESH_BENCH_DATA
# (/var/tmp, not a tmpfs) holds the brokers' data. `make compare-quick`:
# one small run, written under $(BUILD_DIR)/ instead of docs/.
COMPARE_PACKAGES := rabbitmq-server activemq gnuplot-nox
COMPARE_RUNS ?= 3
COMPARE_SCALE ?= 1
COMPARE_ARGS ?=

compare-deps:
	sh bench/compare/install.sh $(COMPARE_PACKAGES)

compare: build compare-deps
	python3 bench/compare/compare.py --build $(BUILD_DIR) \
	  --runs $(COMPARE_RUNS) --scale $(COMPARE_SCALE) \
	  --command "make compare COMPARE_RUNS=$(COMPARE_RUNS) COMPARE_SCALE=$(COMPARE_SCALE)$(if $(COMPARE_ARGS), COMPARE_ARGS='$(COMPARE_ARGS)')" \
	  -- $(COMPARE_ARGS)

compare-quick: build compare-deps
	python3 bench/compare/compare.py --build $(BUILD_DIR) --runs 1 \
	  --scale 0.05 --command "make compare-quick" \
	  --doc $(BUILD_DIR)/compare-quick/benchmarks.md \
	  --img-dir $(BUILD_DIR)/compare-quick/img \
	  --results $(BUILD_DIR)/compare-quick

fuzz: deps
	sh tests/fuzz/run_fuzz.sh clang++ $(CURDIR) $(FUZZ_DIR) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD_DIR)
