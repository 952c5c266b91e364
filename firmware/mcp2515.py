# MCP2515 stand-alone CAN controller over SPI, for boards without a CAN peripheral
# (Raspberry Pi Pico, ESP32). Same interface as can_source's pyb.CAN source:
# recv / state / errors / overflows / restart / send (and tx_pending / loop / kind for
# replay through the receive path in loopback mode). Datasheet: Microchip DS20001801.
#
#   from machine import SPI, Pin
#   spi = SPI(0, baudrate=8_000_000, sck=Pin(18), mosi=Pin(19), miso=Pin(16))  # Pico
#   can = Mcp2515(spi, Pin(17, Pin.OUT, value=1), bitrate=500000, crystal_hz=8000000,
#                 keys=decoder_keys)
#   frame = can.recv()   # [can_id, ext, rtr, fmi, data] (the same list every call) or None
#
# The caller owns the SPI bus (mode 0 or 3, <= 10 MHz) and the chip-select pin; only
# SPI.write, SPI.write_readinto and Pin.value are used, so tests pass fakes
# (tests/firmware/fakes/mcp2515_chip.py). Tested only on that fake so far.
import time
from binascii import hexlify

from micropython import const

# SPI instructions
_RESET = const(0xC0)
_READ = const(0x03)
_WRITE = const(0x02)
_READ_RXB0 = const(0x90)  # READ RX BUFFER at RXB0SIDH; clears RX0IF when CS rises
_READ_RXB1 = const(0x94)  # READ RX BUFFER at RXB1SIDH; clears RX1IF
_LOAD_TXB0 = const(0x40)  # LOAD TX BUFFER at TXB0SIDH
_RTS_TXB0 = const(0x81)
_READ_STATUS = const(0xA0)
_RX_STATUS = const(0xB0)
_BIT_MODIFY = const(0x05)

# registers
_RXF0SIDH = const(0x00)  # RXF0..RXF2: 0x00-0x0B
_RXF3SIDH = const(0x10)  # RXF3..RXF5: 0x10-0x1B
_CANSTAT = const(0x0E)
_CANCTRL = const(0x0F)
_RXM0SIDH = const(0x20)  # RXM0, RXM1: 0x20-0x27
_CNF3 = const(0x28)  # CNF3, CNF2, CNF1 at 0x28, 0x29, 0x2A
_CANINTE = const(0x2B)
_CANINTF = const(0x2C)
_EFLG = const(0x2D)
_RXB0CTRL = const(0x60)
_RXB1CTRL = const(0x70)

# CANCTRL.REQOP / CANSTAT.OPMOD (bits 7-5)
_MODE_NORMAL = const(0x00)
_MODE_LOOPBACK = const(0x40)
_MODE_LISTEN = const(0x60)
_MODE_CONFIG = const(0x80)
_MODES = {"normal": _MODE_NORMAL, "listen-only": _MODE_LISTEN, "loopback": _MODE_LOOPBACK}
_MODE_NAMES = {_MODE_NORMAL: "normal", _MODE_LISTEN: "listen-only", _MODE_LOOPBACK: "loopback",
               _MODE_CONFIG: "configuration"}

_EFLG_RX0OVR = const(0x40)
_EFLG_RX1OVR = const(0x80)
_EFLG_OVR = const(0xC0)
_EFLG_TXBO = const(0x20)
_EFLG_PASSIVE = const(0x18)  # TXEP | RXEP
_EFLG_EWARN = const(0x01)
_TXREQ_TXB0 = const(0x04)  # READ STATUS bit 2: TXB0CTRL.TXREQ
_BUKT = const(0x04)  # RXB0CTRL: roll over into RXB1 when RXB0 is full
_SIDL_IDE = const(0x08)  # RXBnSIDL: extended frame (EXIDE in filters and TX buffers)
_SIDL_SRR = const(0x10)  # RXBnSIDL: standard remote frame
_DLC_RTR = const(0x40)  # RXBnDLC / TXBnDLC: extended remote frame (TX: any remote frame)

_LOOP_TIMEOUT_US = const(20000)  # a looped frame takes < 300 us even at 125 kbit/s
_EXT_KEY = const(0x20000000)  # the decoder's key flag for extended ids
_STD_MASK = const(0x7FF)
_EXT_MASK = const(0x1FFFFFFF)

# state() values: the same numbers as can_source.STATE_* (not imported: this module must
# not pull pyb-only code onto boards without pyb)
STATE_ACTIVE = const(0)
STATE_WARNING = const(1)
STATE_PASSIVE = const(2)
STATE_BUS_OFF = const(3)


def bit_timing(crystal_hz, bitrate):
    """(CNF1, CNF2, CNF3) for a crystal and bit rate, SJW 1 TQ.

    Bit = SyncSeg 1 + PropSeg + PS1 + PS2 time quanta, TQ = 2 * (BRP + 1) / crystal.
    Picks the split whose sample point is nearest 87.5 % (ties: more TQ) within the
    datasheet's limits: 5..25 TQ, PropSeg and PS1 1..8, PS2 2..8, PS2 > SJW,
    PropSeg + PS1 >= PS2, BRP 0..63. ValueError when no split fits."""
    if crystal_hz <= 0 or bitrate <= 0:
        raise ValueError("bit timing: crystal and bit rate must be positive")
    best = None
    for tq in range(5, 26):
        if crystal_hz % (2 * tq * bitrate):
            continue  # only exact bit rates: the bus tolerates ~1.7 % between nodes
        brp = crystal_hz // (2 * tq * bitrate) - 1
        if brp > 63:
            continue
        ps2 = max(2, tq - 17, (tq + 4) // 8)  # ~12.5 % after the sample point
        rest = tq - 1 - ps2
        ps1 = (rest + 1) // 2
        prop = rest - ps1
        if not (1 <= prop <= 8 and 1 <= ps1 <= 8 and ps2 <= 8 and prop + ps1 >= ps2):
            continue
        miss = abs(8 * (tq - ps2) - 7 * tq) * 1000 // tq  # distance from 87.5 %
        if best is None or miss <= best[0]:
            best = (miss, brp, prop, ps1, ps2)
    if best is None:
        raise ValueError("bit timing: %d bit/s cannot be made from a %d Hz crystal "
                         "(needs 5..25 time quanta of 2*(BRP+1)/crystal per bit)"
                         % (bitrate, crystal_hz))
    _, brp, prop, ps1, ps2 = best
    # CNF1: SJW-1 in bits 7-6 (0: 1 TQ); CNF2: BTLMODE (PS2 from CNF3), PHSEG1, PRSEG
    return brp, 0x80 | (ps1 - 1) << 3 | (prop - 1), ps2 - 1


def plan_filters(keys):
    """Masks and filters for the decoder's frame keys: (masks, filters).

    masks: ((mask, ext), (mask, ext)) for RXM0 (RXB0) and RXM1 (RXB1); filters: six
    (id, ext) for RXF0..RXF5 (RXF0-1 feed RXB0, RXF2-5 feed RXB1). A buffer holds one
    kind of id: a standard mask (11 bits; its EID bits stay 0 so the chip does not
    compare data bytes 0-1 of standard frames) or an extended one (29 bits). When the ids
    do not fit exactly, both masks are 0 and each buffer has a standard and an extended
    filter: everything passes and the decoder counts unknown ids."""
    for k in keys:
        if not 0 <= k <= (_EXT_KEY | _EXT_MASK) or (k < _EXT_KEY and k > _STD_MASK):
            raise ValueError("plan_filters: 0x%x is neither a standard id nor an extended id "
                             "| 0x20000000" % k)
    std = sorted(set(k for k in keys if not k & _EXT_KEY))
    ext = sorted(set(k & _EXT_MASK for k in keys if k & _EXT_KEY))
    if std and not ext and len(std) <= 6:
        buffers = ((std[:2], False), (std[2:] or std[:2], False))
    elif ext and not std and len(ext) <= 6:
        buffers = ((ext[:2], True), (ext[2:] or ext[:2], True))
    elif std and ext and len(std) <= 2 and len(ext) <= 4:
        buffers = ((std, False), (ext, True))
    elif std and ext and len(ext) <= 2 and len(std) <= 4:
        buffers = ((ext, True), (std, False))
    else:
        everything = ((0, False), (0, True))
        return ((0, False), (0, False)), everything + everything + everything
    masks = []
    filters = []
    for (ids, is_ext), size in zip(buffers, (2, 4)):
        masks.append((_EXT_MASK if is_ext else _STD_MASK, is_ext))
        for i in range(size):
            filters.append((ids[min(i, len(ids) - 1)], is_ext))  # spare filters repeat
    return tuple(masks), tuple(filters)


def id_registers(can_id, ext, exide):
    """SIDH, SIDL, EID8, EID0 for an id (filters and TX buffers set EXIDE, masks not)."""
    if ext:
        sid = can_id >> 18
        low = (sid & 7) << 5 | (can_id >> 16) & 3
        return (sid >> 3, low | (_SIDL_IDE if exide else 0), (can_id >> 8) & 0xFF, can_id & 0xFF)
    return (can_id >> 3) & 0xFF, (can_id & 7) << 5, 0, 0


class Mcp2515:
    """One MCP2515 on a caller's SPI bus. recv() returns [can_id, ext, rtr, fmi, data]
    (one reused list; data a memoryview into the SPI buffer, valid until the next recv),
    fmi the acceptance filter 0..5 that took the frame."""

    kind = "mcp2515"  # can_source's name for this backend

    def __init__(self, spi, cs, bitrate=500000, crystal_hz=16000000, keys=None, mode="normal"):
        if mode not in _MODES:
            raise ValueError("mcp2515: mode must be normal, listen-only or loopback, not %r" % (mode,))
        self._spi = spi
        self._cs = cs
        self._cnf = bit_timing(crystal_hz, bitrate)  # ValueError before touching the chip
        self._plan = plan_filters(keys or ())
        self._mode = _MODES[mode]
        self.bitrate = bitrate
        self.mode = mode
        # every buffer is made here: recv() and send() allocate nothing
        self._cmd = bytearray(3)  # instruction [address [data]] of register accesses
        self._reply = bytearray(3)
        self._bitmod = bytearray(4)
        self._status_out = bytearray(2)
        self._status_in = bytearray(2)
        self._rx_out = bytearray(14)  # READ RX BUFFER + SIDH SIDL EID8 EID0 DLC D0..D7
        self._rx = bytearray(14)
        rx = memoryview(self._rx)
        self._data = tuple(rx[6:6 + n] for n in range(9))  # one view per DLC: no slicing later
        self._tx = bytearray(14)  # LOAD TX BUFFER + SIDH SIDL EID8 EID0 DLC D0..D7
        tx = memoryview(self._tx)
        self._tx_views = tuple(tx[:6 + n] for n in range(9))
        self._rts = bytearray((_RTS_TXB0,))
        self._frame = [0, False, False, 0, self._data[0]]
        self._state = STATE_ACTIVE
        self._errors = 0
        self.overflows = 0
        self._init_chip()

    # --- SPI primitives ------------------------------------------------------------------
    def _read(self, addr):
        cmd = self._cmd
        cmd[0] = _READ
        cmd[1] = addr
        cmd[2] = 0
        self._cs.value(0)
        self._spi.write_readinto(cmd, self._reply)
        self._cs.value(1)
        return self._reply[2]

    def _read_block(self, addr, n):
        """n registers from addr (start-up and checks only: allocates)."""
        out = bytearray(2 + n)
        out[0] = _READ
        out[1] = addr
        got = bytearray(2 + n)
        self._cs.value(0)
        self._spi.write_readinto(out, got)
        self._cs.value(1)
        return bytes(got[2:])

    def _write_block(self, addr, values):
        self._cs.value(0)
        self._spi.write(bytes((_WRITE, addr)) + bytes(values))
        self._cs.value(1)

    def _modify(self, addr, mask, value):
        buf = self._bitmod
        buf[0] = _BIT_MODIFY
        buf[1] = addr
        buf[2] = mask
        buf[3] = value
        self._cs.value(0)
        self._spi.write(buf)
        self._cs.value(1)

    def _status(self, instruction):
        out = self._status_out
        out[0] = instruction
        self._cs.value(0)
        self._spi.write_readinto(out, self._status_in)
        self._cs.value(1)
        return self._status_in[1]

    # --- set-up ----------------------------------------------------------------------
    def _init_chip(self):
        self._cs.value(1)
        self._cs.value(0)
        self._spi.write(bytes((_RESET,)))
        self._cs.value(1)
        time.sleep_ms(2)  # oscillator start-up: 128 OSC1 cycles after reset, plus margin
        self._set_mode(_MODE_CONFIG)
        cnf1, cnf2, cnf3 = self._cnf
        self._write_block(_CNF3, (cnf3, cnf2, cnf1))
        masks, filters = self._plan
        regs = []
        for can_id, ext in filters:
            regs.extend(id_registers(can_id, ext, True))
        self._write_block(_RXF0SIDH, regs[:12])
        self._write_block(_RXF3SIDH, regs[12:])
        mask_regs = []
        for mask, ext in masks:
            mask_regs.extend(id_registers(mask, ext, False))
        self._write_block(_RXM0SIDH, mask_regs)
        # read back: catches a chip that ignores writes (not in configuration mode, MISO
        # stuck, wrong CS pin)
        for addr, want, what in ((_CNF3, (cnf3, cnf2, cnf1), "CNF3..CNF1"),
                                 (_RXF0SIDH, regs[:12], "RXF0..RXF2"),
                                 (_RXF3SIDH, regs[12:], "RXF3..RXF5"),
                                 (_RXM0SIDH, mask_regs, "RXM0..RXM1")):
            got = self._read_block(addr, len(want))
            if got != bytes(want):
                raise OSError("mcp2515: %s read back %s, wrote %s: check the SPI wiring"
                              % (what, hexlify(got).decode(), hexlify(bytes(want)).decode()))
        self._write_block(_RXB0CTRL, (_BUKT,))  # RXM 00: filters on; roll over into RXB1
        self._write_block(_RXB1CTRL, (0,))
        self._write_block(_CANINTE, (0x03,))  # RX0IE | RX1IE: INT pin low while a frame waits
        self._write_block(_CANINTF, (0,))
        self._modify(_EFLG, _EFLG_OVR, 0)
        self._set_mode(self._mode)

    def _set_mode(self, mode):
        self._modify(_CANCTRL, 0xE0, mode)  # REQOP
        start = time.ticks_ms()
        while True:
            canstat = self._read(_CANSTAT)
            if canstat & 0xE0 == mode:  # OPMOD
                return
            # config mode waits for the frame on the bus to end, normal mode for 11
            # recessive bits: a few ms at worst even at 125 kbit/s
            if time.ticks_diff(time.ticks_ms(), start) > 50:
                raise OSError("mcp2515: chip did not enter %s mode (CANSTAT=0x%02x): check SPI "
                              "wiring, CS pin, power and crystal" % (_MODE_NAMES[mode], canstat))
            time.sleep_ms(1)

    # --- the CAN source interface ------------------------------------------------------
    def recv(self):
        """The next frame (the same list every call), or None when none waits."""
        status = self._status(_RX_STATUS)
        if status & 0xC0 == 0:
            self._check_eflg()  # idle: a late overflow flag is still counted
            return None
        if status & 0x80:  # RXB1 full: an overflow may have happened
            self._check_eflg()
        rx = self._rx
        out = self._rx_out
        if status & 0x40:  # RXB0 first: it has priority and RX STATUS bits 4-0 describe it
            out[0] = _READ_RXB0
            fmi = status & 1
        else:
            out[0] = _READ_RXB1
            fmi = status & 7
            if fmi >= 6:  # 110/111: RXF0/RXF1, rolled over into RXB1
                fmi -= 6
        self._cs.value(0)
        self._spi.write_readinto(out, rx)
        self._cs.value(1)
        sidl = rx[2]
        sid = rx[1] << 3 | sidl >> 5
        frame = self._frame
        if sidl & _SIDL_IDE:
            frame[0] = sid << 18 | (sidl & 3) << 16 | rx[3] << 8 | rx[4]
            frame[1] = True
            frame[2] = bool(rx[5] & _DLC_RTR)
        else:
            frame[0] = sid
            frame[1] = False
            frame[2] = bool(sidl & _SIDL_SRR)
        dlc = rx[5] & 0x0F
        frame[3] = fmi
        frame[4] = self._data[dlc if dlc < 8 else 8]  # DLC 9..15 means 8 bytes
        return frame

    def _check_eflg(self):
        """EFLG, counting and clearing receive overflows (RX0OVR, RX1OVR)."""
        eflg = self._read(_EFLG)
        if eflg & _EFLG_OVR:
            if eflg & _EFLG_RX0OVR:
                self.overflows += 1
            if eflg & _EFLG_RX1OVR:
                self.overflows += 1
            self._modify(_EFLG, _EFLG_OVR, 0)
        return eflg

    def state(self):
        """STATE_ACTIVE / WARNING / PASSIVE / BUS_OFF from EFLG; counts entries."""
        eflg = self._check_eflg()
        if eflg & _EFLG_TXBO:
            now = STATE_BUS_OFF
        elif eflg & _EFLG_PASSIVE:
            now = STATE_PASSIVE
        elif eflg & _EFLG_EWARN:
            now = STATE_WARNING
        else:
            now = STATE_ACTIVE
        if now != self._state:
            if now != STATE_ACTIVE:
                self._errors += 1
            self._state = now
        return now

    def errors(self):
        """Entries into warning, passive or bus-off seen by state() since start."""
        return self._errors

    def restart(self):
        """Reset and reprogram the chip now. The MCP2515 leaves bus-off by itself after
        128 x 11 recessive bits; a reset also clears TEC/REC and any stuck state (a power
        dip, an SPI glitch). overflows and errors() keep counting across restarts."""
        self._init_chip()
        self._state = STATE_ACTIVE

    def tx_pending(self):
        """True while TXB0 waits to go out (TXREQ set)."""
        return bool(self._status(_READ_STATUS) & _TXREQ_TXB0)

    def loop(self, can_id, ext, data, n):
        """Loopback mode: send a frame and read it back through the filters (replay through
        the receive path); None when the filters rejected it."""
        if self._mode != _MODE_LOOPBACK:
            raise OSError("mcp2515: loop() needs mode 'loopback', not '%s'" % self.mode)
        if not self.send(can_id, ext, data, n):
            raise OSError("mcp2515 loopback: TXB0 busy for id 0x%x" % can_id)
        start = time.ticks_us()
        while self.tx_pending():
            if time.ticks_diff(time.ticks_us(), start) > _LOOP_TIMEOUT_US:
                raise OSError("mcp2515 loopback: id 0x%x not sent within %d us" % (can_id, _LOOP_TIMEOUT_US))
        # TXREQ clears at the end of the frame, when the receive path has taken it or not
        return self.recv()

    def send(self, can_id, ext, data, n):
        """Queue a data frame in TXB0: True when queued, False while TXB0 is pending."""
        if self._status(_READ_STATUS) & _TXREQ_TXB0:
            return False
        tx = self._tx
        tx[0] = _LOAD_TXB0
        if ext:
            sid = can_id >> 18
            tx[1] = sid >> 3
            tx[2] = (sid & 7) << 5 | _SIDL_IDE | (can_id >> 16) & 3
            tx[3] = (can_id >> 8) & 0xFF
            tx[4] = can_id & 0xFF
        else:
            tx[1] = (can_id >> 3) & 0xFF
            tx[2] = (can_id & 7) << 5
            tx[3] = 0
            tx[4] = 0
        if n > 8:
            n = 8
        tx[5] = n
        for i in range(n):
            tx[6 + i] = data[i]
        self._cs.value(0)
        self._spi.write(self._tx_views[n])
        self._cs.value(1)
        self._cs.value(0)
        self._spi.write(self._rts)
        self._cs.value(1)
        return True
