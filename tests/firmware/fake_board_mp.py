# Runs inside MicroPython (imported by live_mode_mp.py and replay_mp.py, from their folder):
# what a script running app.Board on the fake CAN controllers sets up before the firmware is
# imported.
import json
import sys


def setup(config):
    """sys.argv FIRMWARE_DIR FAKES_DIR CONFIG_JSON ...: both folders first on sys.path,
    `config` updated with CONFIG_JSON, and its "_fake" installed as sys.modules["machine"]
    ("machine": the fake machine.CAN, "mcp2515": the fake SPI with an MCP2515 behind it; else
    only the fake pyb is there). Returns (config, the fake machine module or None)."""
    sys.path.insert(0, sys.argv[1])
    sys.path.insert(0, sys.argv[2])
    config.update(json.loads(sys.argv[3]))
    fake = None
    if config.get("_fake") == "machine":
        import machine_can as fake
    elif config.get("_fake") == "mcp2515":
        import machine_spi as fake
    if fake is not None:
        sys.modules["machine"] = fake
    return config, fake
