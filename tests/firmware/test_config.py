"""The board's settings table (firmware/settings.py, read by config.load() at boot), run in
the unix port: load() uses no value outside it (the default stands in, and the problem names
the setting, the value and what is allowed), and the host, checking `mule flash` settings
with the same table, gets the same verdicts, word for word."""

from __future__ import annotations

import json
import subprocess

import pytest

from host_tools.flash import board_config
from host_tools.link import wire
from host_tools.tools import tool
from mule_testing import FILES, REPO

CONFIGS = FILES / "config"
DEFAULTS = {s[0]: s[1] for s in board_config.SETTINGS}


def on_board(body: str):
    """Run `body` in the unix port with firmware/ importable; its printed JSON."""
    script = f"import sys, json\nsys.path.insert(0, {str(REPO / 'firmware')!r})\n{body}"
    result = subprocess.run([tool("micropython"), "-X", "heapsize=100K", "-c", script], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def board_load(name: str) -> tuple[dict, str | None]:
    config, problem = on_board(f"import config\nprint(json.dumps(config.load({str(CONFIGS / name)!r})))")
    return config, problem


def test_settings_that_bricked_the_board_are_not_used():
    """rx_window 0 left the board deaf to the link (no STOP, no mpremote); both values are
    replaced by their defaults and the LOG after HELLO says so."""
    config, problem = board_load("bricks_the_link.json")
    assert (config["rx_window"], config["decimation"]) == (1024, 1)
    assert "rx_window = 0: must be an integer in 517..65535; using 1024" in problem
    assert "decimation = 0: must be an integer in 1..65535; using 1" in problem


def test_rx_window_is_held_to_the_16_bits_hello_carries():
    config, problem = board_load("rx_window_beyond_u16.json")
    assert config["rx_window"] == 1024
    assert "rx_window = 999999999" in problem and "517..65535" in problem
    rx_window = next(s for s in board_config.SETTINGS if s[0] == "rx_window")
    assert rx_window[3] == wire.MAX_WIRE  # the longest host frame must fit the window, or it is never sent
    assert rx_window[4] == 0xFFFF  # HELLO's rx_window is a u16 (docs/protocol.md)


def test_every_wrong_value_is_reported_and_its_default_used():
    given = json.loads((CONFIGS / "every_setting_wrong.json").read_text())
    config, problem = board_load("every_setting_wrong.json")
    assert config == DEFAULTS
    for name in given:
        assert f"{name} = " in problem or f'unknown setting "{name}"' in problem, name
    assert '"rx_windw"' in problem and "ignored" in problem
    assert "\x1b" not in problem  # the board name's escape is shown as text


def test_every_valid_value_is_used():
    given = json.loads((CONFIGS / "every_setting_changed.json").read_text())
    assert set(given) == set(DEFAULTS)  # the file covers every setting
    config, problem = board_load("every_setting_changed.json")
    assert problem is None
    assert config == given


def test_a_file_that_is_not_an_object_means_the_defaults():
    config, problem = board_load("not_an_object.json")
    assert config == DEFAULTS
    assert "not a JSON object" in problem


def cases() -> list[tuple[str, object]]:
    out = []
    for name in ("every_setting_wrong.json", "every_setting_changed.json", "bricks_the_link.json"):
        out += json.loads((CONFIGS / name).read_text()).items()
    out += [("decimation", True), ("rx_window", 2**40), ("rx_window", 1024.0), ("bus", None),
            ("port", "uart:01:9600"), ("port", "uart::9600"), ("port", "usb"), ("cs", 256), ("cs", "X5"),
            ("watchdog_ms", 0), ("watchdog_ms", 32001), ("board", "b" * 33), ("mode", ["live"])]
    return [(n, v) for n, v in out if not (isinstance(v, str) and not v.isascii())]


def test_host_and_board_give_the_same_verdicts():
    """MicroPython differs where it matters here (isinstance(True, int) is False there):
    one table and one check function, run by both, must agree on every case."""
    pairs = cases()
    board = on_board(f"import settings\nprint(json.dumps([settings.check(n, v) for n, v in json.loads({json.dumps(pairs)!r})]))")
    host = [board_config.check(name, value) for name, value in pairs]
    assert board == host
    assert sum(v is None for v in host) >= 15 and sum(v is not None for v in host) >= 20


def test_the_table_leaves_the_heap_once_the_file_is_read():
    """The board keeps config (app imports it) but not the table: RAM is the budget."""
    kept, grown = on_board(
        "import gc\ngc.collect()\nbefore = gc.mem_alloc()\nimport config\n"
        f"cfg, problem = config.load({str(CONFIGS / 'every_setting_changed.json')!r})\n"
        "del cfg, problem\ngc.collect()\nprint(json.dumps(['settings' in sys.modules, gc.mem_alloc() - before]))")
    assert not kept
    assert grown < 2500, grown  # config's own code; the table and its checks took ~5 KB more
