# The table of board settings: each setting mule_config.json may hold, with its type and
# range, and the check both sides run: `mule flash` refuses a value outside it before
# copying anything (host_tools/flash.py loads this very file), and config.load() checks
# the file at boot with it, so a hand-edited or old file cannot stop the board from
# reading the link. Imported only while the file is read (it takes RAM), then dropped.
# Plain Python that runs on MicroPython and CPython alike.
import json


# (name, default, kind, a, b); few names and no short message fragments: each is interned
# for good when the board loads this file (docs/hardware.md). Kinds:
#   "int"        an integer in a..b (JSON true/false is not one)
#   "off_or_int" 0 (off) or an integer in a..b
#   "one_of"     one of the values in a
#   "text"       printable text of at most a characters
#   "bool"       true or false
#   "port"       one of the names in a, or "uart:ID:BAUD" with ID in b[0]..b[1], BAUD in b[2]..b[3]
#   "pin"        a pin number in a..b, or a pin name (text of at most 8 characters, e.g. "X5", "GP17")
SETTINGS = (  # type: tuple
    # "replay": CAN frames arrive over the link; "live": from the CAN bus
    ("mode", "replay", "one_of", ("replay", "live"), None),
    # CAN controller number (live mode, replay_path loopback)
    ("bus", 1, "int", 0, 3),
    # bit/s, exact (sample point nearest 87.5 %)
    ("bitrate", 500000, "one_of", (125000, 250000, 500000, 1000000), None),
    # the CAN controller: "auto" (machine.CAN if the firmware has it, else pyb.CAN), or the MCP2515 over SPI
    ("can", "auto", "one_of", ("auto", "pyb", "machine", "mcp2515"), None),
    # replay: "link" decodes the link's frames; "loopback" sends them through the controller's
    # filters and FIFO (silent loopback) first
    ("replay_path", "link", "one_of", ("link", "loopback"), None),
    # send telemetry for 1 decoded frame in N
    ("decimation", 1, "int", 1, 65535),
    # "changed": TELEMETRY carries only the signals that moved by more than their deadband (from
    # the DBC, telemetry_deadband.bin) or whose value sent is refresh_ms (of frame time) old;
    # frames with none are counted in runs (docs/protocol.md). "all": every signal of every frame
    ("telemetry", "all", "one_of", ("all", "changed"), None),
    ("refresh_ms", 1000, "int", 10, 60000),
    # host -> board bytes the board buffers (HELLO's rx_window, CREDIT): at least the longest
    # host frame on the wire (512 bytes COBS-encoded, 515, and two delimiters), at most u16
    ("rx_window", 1024, "int", 517, 65535),
    # the serial port to the host
    ("port", "auto", "port", ("auto", "usb", "stdio"), (0, 15, 1200, 4000000)),
    # a name for HELLO; "" = sys.platform
    ("board", "", "text", 32, None),
    # 0: off; else machine.WDT with this timeout, fed every loop pass (it cannot be stopped:
    # STOP then resets the board). Shorter than 500 ms risks resets in a slow pass.
    ("watchdog_ms", 0, "off_or_int", 500, 32000),
    # supervision (ALERTs, docs/supervision.md); false: decode only
    ("supervise", True, "bool", None, None),
    # "can": "mcp2515": the SPI bus id, the chip-select pin, the SPI clock (the chip allows
    # 10 MHz) and the module's crystal
    ("spi", 0, "int", 0, 6),
    ("cs", 17, "pin", 0, 255),
    ("spi_baudrate", 8000000, "int", 100000, 10000000),
    ("crystal_hz", 16000000, "one_of", (8000000, 16000000, 20000000), None),
)


def _show(value):
    text = json.dumps(value) if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check(name, value):
    """None when `value` is allowed for setting `name`, else why not (naming the setting,
    the value and what is allowed)."""
    for s in SETTINGS:
        if s[0] == name:
            break
    else:
        return "unknown setting %s" % (_show(name),)
    kind, a, b = s[2], s[3], s[4]
    isint = type(value) is int  # not bool: JSON true is no number
    text = isinstance(value, str) and all(32 <= ord(c) <= 126 for c in value)  # printable
    if kind == "int":
        if isint and a <= value <= b:
            return None
        allowed = "an integer in %d..%d" % (a, b)
    elif kind == "off_or_int":
        if isint and (value == 0 or a <= value <= b):
            return None
        allowed = "0 (off) or an integer in %d..%d" % (a, b)
    elif kind == "one_of":
        for v in a:
            if type(v) is type(value) and v == value:
                return None
        allowed = "one of %s" % repr(list(a))[1:-1]  # "'x', 'y'"
    elif kind == "text":
        if text and len(value) <= a:
            return None
        allowed = "printable text of at most %d characters" % a
    elif kind == "bool":
        if value is True or value is False:
            return None
        allowed = "true or false"
    elif kind == "pin":
        if (isint and a <= value <= b) or (text and 0 < len(value) <= 8):
            return None
        allowed = "a pin number in %d..%d or a pin name such as \"X5\"" % (a, b)
    else:  # "port": one of a, or "uart:ID:BAUD" with ID in b[0]..b[1], BAUD in b[2]..b[3]
        if value in a:
            return None
        # (literals of 10 characters or fewer are interned: "uart:" and ":" are cut from a long one)
        ok = isinstance(value, str) and value[:5] == "uart:ID:BAUD"[:5]
        parts = value.split(value[4]) if ok else ()
        ok = len(parts) == 3
        if ok:
            for i in (1, 2):
                v = parts[i]
                ok = ok and 0 < len(v) <= 8 and v.isdigit() and b[2 * i - 2] <= int(v) <= b[2 * i - 1]
        if ok:
            return None
        allowed = "one of %s or \"uart:ID:BAUD\" (ID in %d..%d, BAUD in %d..%d)" % (
            repr(list(a))[1:-1], b[0], b[1], b[2], b[3])
    return "%s = %s: must be %s" % (name, _show(value), allowed)


def load(path="mule_config.json"):
    """(config, problem): problem is None, or what of the file was not used and why (the
    default stands in for each bad value; the board says so in a LOG after HELLO)."""
    config = {}
    for s in SETTINGS:
        config[s[0]] = s[1]
    try:
        with open(path) as f:
            given = json.load(f)
    except OSError:
        return config, None
    except ValueError as exc:
        return config, "bad %s (%s), using the defaults" % (path, exc)
    if not isinstance(given, dict):
        return config, "%s is not a JSON object, using the defaults" % path
    problem = None
    for name in given:
        value = given[name]
        why = check(name, value)
        if why is None:
            config[name] = value
            continue
        if name in config:
            why = "%s; using %s" % (why, _show(config[name]))
        else:
            why = "%s; ignored" % why
        problem = "%s: %s" % (path, why) if problem is None else "%s | %s" % (problem, why)
    return config, problem
