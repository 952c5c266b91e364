# A fake `machine` with SPI and Pin wired to one fake MCP2515 (mcp2515_chip.py), so the
# firmware's can_source.open_source({"can": "mcp2515", ...}) builds its source as on a
# board. Install before importing the firmware:
#   import machine_spi; sys.modules["machine"] = machine_spi
# The module re-exports the builtin machine's names; `chip` is the fake chip on the bus.
try:
    from machine import *  # noqa: F401,F403 (the builtin module's names)
except ImportError:
    pass

import mcp2515_chip

chip = mcp2515_chip.Mcp2515Chip()
opened = []  # (what, id, settings) of each SPI / Pin made, for the tests


class Pin(mcp2515_chip.FakePin):
    IN = 0
    OUT = 1

    def __init__(self, id, mode=-1, value=1):
        opened.append(("Pin", id, mode))
        super().__init__(chip, value)


class SPI(mcp2515_chip.FakeSPI):
    def __init__(self, id, baudrate=1000000, **kwargs):
        opened.append(("SPI", id, baudrate))
        super().__init__(chip)
