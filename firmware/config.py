# Board configuration: mule_config.json beside main.py (written by `mule flash`),
# over defaults. A missing or unreadable file means defaults, reported in HELLO's log.
import json

DEFAULTS = {
    "mode": "replay",  # "replay": CAN frames arrive over the link; "live": from the CAN bus
    "bus": 1,  # CAN controller number (live mode)
    "bitrate": 500000,  # bit/s: 125000, 250000, 500000 or 1000000 (exact, sample point nearest 87.5 %)
    "can": "auto",  # CAN controller: "auto" (machine.CAN if the firmware has it, else pyb.CAN), "pyb", "machine", "mcp2515"
    "replay_path": "link",  # replay: "link" decodes the link's frames; "loopback" sends them through the controller's filters and FIFO (silent loopback) first
    # "can": "mcp2515" also reads "spi" (SPI bus id, 0), "cs" (chip-select pin id, 17),
    # "spi_baudrate" (8000000) and "crystal_hz" (the module's oscillator, 16000000)
    "decimation": 1,  # send telemetry for 1 frame in N
    "port": "auto",  # "auto", "usb", "stdio", "uart:ID:BAUD"
    "board": "",  # a name for HELLO; "" = sys.platform
    "watchdog_ms": 0,  # > 0: machine.WDT with this timeout, fed every loop pass (it cannot be stopped: STOP then resets the board)
}


def load(path="mule_config.json"):
    """(config, problem): problem is None, or why the file was not used."""
    config = dict(DEFAULTS)
    try:
        with open(path) as f:
            config.update(json.load(f))
    except OSError:
        return config, None
    except ValueError as exc:
        return config, "bad " + path + ": " + str(exc)
    return config, None
