# The table of board settings: each setting mule_config.json may hold, with its type and
# range, and the check both sides run: `mule flash` refuses a value outside it before
# copying anything (host_tools/flash.py loads this very file), and config.load() checks
# the file at boot with it, so a hand-edited or old file cannot stop the board from
# reading the link. Imported only while the file is read (it takes RAM), then dropped.
# Plain Python that runs on MicroPython and CPython alike.
import json


def _setting(*fields):
    return fields


# (name, default, kind, a, b). Kinds:
#   "int"        an integer in a..b (JSON true/false is not one)
#   "off_or_int" 0 (off) or an integer in a..b
#   "one_of"     one of the values in a
#   "text"       printable text of at most a characters
#   "bool"       true or false
#   "port"       one of the names in a, or "uart:ID:BAUD" with ID in b[0]..b[1], BAUD in b[2]..b[3]
#   "pin"        a pin number in a..b, or a pin name (text of at most 8 characters, e.g. "X5", "GP17")
SETTINGS = (
    # "replay": CAN frames arrive over the link; "live": from the CAN bus
    _setting("mode", "replay", "one_of", ("replay", "live"), None),
    # CAN controller number (live mode, replay_path loopback)
    _setting("bus", 1, "int", 0, 3),
    # bit/s, exact (sample point nearest 87.5 %)
    _setting("bitrate", 500000, "one_of", (125000, 250000, 500000, 1000000), None),
    # the CAN controller: "auto" (machine.CAN if the firmware has it, else pyb.CAN), or the MCP2515 over SPI
    _setting("can", "auto", "one_of", ("auto", "pyb", "machine", "mcp2515"), None),
    # replay: "link" decodes the link's frames; "loopback" sends them through the controller's
    # filters and FIFO (silent loopback) first
    _setting("replay_path", "link", "one_of", ("link", "loopback"), None),
    # send telemetry for 1 decoded frame in N
    _setting("decimation", 1, "int", 1, 65535),
    # "changed": TELEMETRY carries only the signals that moved by more than their deadband (from
    # the DBC, telemetry_deadband.bin) or whose value sent is refresh_ms (of frame time) old;
    # frames with none are counted in runs (docs/protocol.md). "all": every signal of every frame
    _setting("telemetry", "all", "one_of", ("all", "changed"), None),
    _setting("refresh_ms", 1000, "int", 10, 60000),
    # host -> board bytes the board buffers (HELLO's rx_window, CREDIT): at least the longest
    # host frame on the wire (512 bytes COBS-encoded, 515, and two delimiters), at most u16
    _setting("rx_window", 1024, "int", 517, 65535),
    # the serial port to the host
    _setting("port", "auto", "port", ("auto", "usb", "stdio"), (0, 15, 1200, 4000000)),
    # a name for HELLO; "" = sys.platform
    _setting("board", "", "text", 32, None),
    # 0: off; else machine.WDT with this timeout, fed every loop pass (it cannot be stopped:
    # STOP then resets the board). Shorter than 500 ms risks resets in a slow pass.
    _setting("watchdog_ms", 0, "off_or_int", 500, 32000),
    # supervision (ALERTs, docs/supervision.md); false: decode only
    _setting("supervise", True, "bool", None, None),
    # "can": "mcp2515": the SPI bus id, the chip-select pin, the SPI clock (the chip allows
    # 10 MHz) and the module's crystal
    _setting("spi", 0, "int", 0, 6),
    _setting("cs", 17, "pin", 0, 255),
    _setting("spi_baudrate", 8000000, "int", 100000, 10000000),
    _setting("crystal_hz", 16000000, "one_of", (8000000, 16000000, 20000000), None),
)


def _is_int(value):
    return type(value) is int  # not bool: JSON true is no number


def _printable(text, longest):
    if len(text) > longest:
        return False
    for c in text:
        if not " " <= c <= "~":
            return False
    return True


def _span(lo, hi):
    return "%d..%d" % (lo, hi)


def check(name, value):
    """None when `value` is allowed for setting `name`, else why not (naming the setting,
    the value and what is allowed)."""
    for setting in SETTINGS:
        if setting[0] == name:
            break
    else:
        return "unknown setting %s" % (_show(name),)
    kind, a, b = setting[2], setting[3], setting[4]
    if kind == "int":
        if _is_int(value) and a <= value <= b:
            return None
        allowed = "an integer in " + _span(a, b)
    elif kind == "off_or_int":
        if _is_int(value) and (value == 0 or a <= value <= b):
            return None
        allowed = "0 (off) or an integer in " + _span(a, b)
    elif kind == "one_of":
        for v in a:
            if type(v) is type(value) and v == value:
                return None
        allowed = "one of " + ", ".join(repr(v) for v in a)
    elif kind == "text":
        if isinstance(value, str) and _printable(value, a):
            return None
        allowed = "printable text of at most %d characters" % a
    elif kind == "bool":
        if value is True or value is False:
            return None
        allowed = "true or false"
    elif kind == "pin":
        if (_is_int(value) and a <= value <= b) or (isinstance(value, str) and value and _printable(value, 8)):
            return None
        allowed = "a pin number in %s or a pin name such as \"X5\"" % _span(a, b)
    else:  # "port"
        if value in a or _uart_ok(value, b):
            return None
        allowed = "one of %s or \"uart:ID:BAUD\" (ID in %s, BAUD in %s)" % (
            ", ".join(repr(v) for v in a), _span(b[0], b[1]), _span(b[2], b[3]))
    return "%s = %s: must be %s" % (name, _show(value), allowed)


def _uart_ok(value, b):
    if not isinstance(value, str) or not value.startswith("uart:"):
        return False
    parts = value.split(":")
    if len(parts) != 3:
        return False
    for part, lo, hi in ((parts[1], b[0], b[1]), (parts[2], b[2], b[3])):
        if not part or len(part) > 8 or not part.isdigit() or not lo <= int(part) <= hi:
            return False
    return True


def _show(value):
    text = json.dumps(value) if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def defaults():
    config = {}
    for setting in SETTINGS:
        config[setting[0]] = setting[1]
    return config


def load(path="mule_config.json"):
    """(config, problem): problem is None, or what of the file was not used and why (the
    default stands in for each bad value; the board says so in a LOG after HELLO)."""
    config = defaults()
    try:
        with open(path) as f:
            given = json.load(f)
    except OSError:
        return config, None
    except ValueError as exc:
        return config, "bad " + path + " (" + str(exc) + "), using the defaults"
    if not isinstance(given, dict):
        return config, path + " is not a JSON object, using the defaults"
    problems = []
    for name in given:
        value = given[name]
        why = check(name, value)
        if why is None:
            config[name] = value
        elif name in config:
            problems.append("%s; using %s" % (why, _show(config[name])))
        else:
            problems.append(why + "; ignored")
    if not problems:
        return config, None
    return config, path + ": " + " | ".join(problems)
