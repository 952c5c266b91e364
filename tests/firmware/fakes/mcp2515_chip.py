# A register-level fake MCP2515 (Microchip DS20001801) behind a fake SPI bus and CS pin,
# for MicroPython's unix port and CPython alike. It decodes SPI transactions byte by byte
# between CS low and CS high and enforces what the chip does: configuration mode after
# RESET, CNFx/filter/mask writes dropped outside configuration mode, read-only bits,
# BIT MODIFY acting as a plain write on registers that do not support it, acceptance
# filtering (mask bit 0 = don't care, EXIDE, RXB0 <- RXF0-1, RXB1 <- RXF2-5, data bytes
# 0-1 of standard frames compared under the mask's EID bits), BUKT rollover, RXnOVR,
# RXnIF cleared by READ RX BUFFER at CS high, loopback, error flags from TEC/REC.
# The SPI byte path allocates nothing, so allocation tests see only the driver's.
#
#   chip = Mcp2515Chip(); spi = FakeSPI(chip); cs = FakePin(chip)
#   chip.inject(0x123, b"\x01\x02")        # a frame on the bus
#   chip.set_error_counters(tec, rec)      # errors on the bus
#   chip.recover_from_bus_off()            # 128 x 11 recessive bits seen
#
# Not modelled: bit timing on a wire, arbitration, TXP priorities, interrupts on the INT
# pin, sleep/wake, one-shot mode, CLKOUT, TXnRTS/RXnBF pins.

NORMAL = 0x00
SLEEP = 0x20
LOOPBACK = 0x40
LISTEN_ONLY = 0x60
CONFIG = 0x80

CANSTAT = 0x0E
CANCTRL = 0x0F
TEC = 0x1C
REC = 0x1D
CNF3 = 0x28
CNF2 = 0x29
CNF1 = 0x2A
CANINTE = 0x2B
CANINTF = 0x2C
EFLG = 0x2D
TXB0CTRL = 0x30
RXB0CTRL = 0x60
RXB1CTRL = 0x70

EFLG_EWARN = 0x01
EFLG_RXWAR = 0x02
EFLG_TXWAR = 0x04
EFLG_RXEP = 0x08
EFLG_TXEP = 0x10
EFLG_TXBO = 0x20
EFLG_RX0OVR = 0x40
EFLG_RX1OVR = 0x80

# registers BIT MODIFY works on (datasheet register map, shaded); elsewhere the chip
# forces the mask to 0xFF: a plain byte write
BIT_MODIFIABLE = (0x0C, 0x0D, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x2D, 0x30, 0x40, 0x50, 0x60, 0x70)

_NO_COMMAND = -1


def _config_only(addr):
    """Filters, masks, CNF1-3 and TXRTSCTRL: writable in configuration mode only."""
    return addr <= 0x0B or 0x10 <= addr <= 0x1B or 0x20 <= addr <= 0x2A or addr == 0x0D


def _filter_addr(n):
    return 4 * n if n < 3 else 0x10 + 4 * (n - 3)


class Mcp2515Chip:
    def __init__(self):
        self.regs = bytearray(128)
        self.sent = []  # frames transmitted on the bus: (can_id, ext, rtr, data)
        self.auto_ack = True  # another node acknowledges at once; False: TXREQ stays set
        self.ignored_writes = 0  # writes the chip dropped (config-only or read-only)
        self.violations = []  # misuse the real chip does not report; tests assert none
        self.transactions = 0  # CS low..high cycles
        self.spi_bytes = 0
        self._selected = False
        self._pos = 0
        self._cmd = _NO_COMMAND
        self._addr = 0
        self._mask = 0
        self._status = 0
        self._clear_rx = 0
        self._tec = 0
        self._rec = 0
        self.power_on()

    # --- reset -----------------------------------------------------------------------
    def power_on(self):
        """Registers whose reset value the datasheet gives as 'x' (filters, masks,
        buffers) hold junk: a driver must program them."""
        for i in range(128):
            self.regs[i] = (i * 37 + 11) & 0xFF
        self.reset()

    def reset(self):
        """The RESET instruction (or pin): defaults, configuration mode; 'x' registers
        keep their contents."""
        regs = self.regs
        for addr in (0x0C, 0x0D, CNF3, CNF2, CNF1, CANINTE, CANINTF, EFLG, TEC, REC,
                     0x30, 0x40, 0x50, RXB0CTRL, RXB1CTRL):
            regs[addr] = 0
        regs[CANCTRL] = 0x87  # REQOP configuration, CLKEN, CLKPRE /8
        regs[CANSTAT] = CONFIG
        self._tec = 0
        self._rec = 0

    # --- SPI side ----------------------------------------------------------------------
    def select(self):
        self._selected = True
        self._pos = 0
        self._cmd = _NO_COMMAND
        self.transactions += 1

    def deselect(self):
        if self._selected and self._clear_rx:
            self.regs[CANINTF] &= ~self._clear_rx & 0xFF  # READ RX BUFFER done
        self._clear_rx = 0
        self._selected = False

    def exchange(self, b):
        """One byte in on SI, the byte shifted out on SO (0xFF: high impedance)."""
        if not self._selected:
            return 0xFF
        self.spi_bytes += 1
        pos = self._pos
        self._pos = pos + 1
        if pos == 0:
            self._command(b)
            return 0xFF
        cmd = self._cmd
        if cmd == 0x03 or cmd == 0x02:  # READ / WRITE: address, then auto-increment
            if pos == 1:
                self._addr = b & 0x7F
                return 0xFF
            addr = self._addr
            self._addr = (addr + 1) & 0x7F
            if cmd == 0x03:
                return self.read(addr)
            self._write(addr, b)
            return 0xFF
        if cmd == 0x90:  # READ RX BUFFER (address set by the command)
            addr = self._addr
            self._addr = (addr + 1) & 0x7F
            return self.read(addr)
        if cmd == 0x40:  # LOAD TX BUFFER
            addr = self._addr
            self._addr = (addr + 1) & 0x7F
            self._write(addr, b)
            return 0xFF
        if cmd == 0x05:  # BIT MODIFY: address, mask, data
            if pos == 1:
                self._addr = b & 0x7F
            elif pos == 2:
                self._mask = b
            elif pos == 3:
                self._bit_modify(self._addr, self._mask, b)
            return 0xFF
        if cmd == 0xA0 or cmd == 0xB0:  # READ STATUS / RX STATUS repeat while clocked
            return self._status
        return 0xFF

    def _command(self, b):
        regs = self.regs
        if b == 0xC0:
            self.reset()
            self._cmd = b
        elif b == 0x03 or b == 0x02 or b == 0x05:
            self._cmd = b
        elif b & 0xF9 == 0x90:  # 1001 0nm0
            self._cmd = 0x90
            self._addr = (0x71 if b & 4 else 0x61) + (5 if b & 2 else 0)
            self._clear_rx = 2 if b & 4 else 1
        elif b & 0xF8 == 0x40 and b & 7 <= 5:  # 0100 0abc
            self._cmd = 0x40
            self._addr = 0x31 + 0x10 * ((b >> 1) & 3) + (5 if b & 1 else 0)
        elif b & 0xF8 == 0x80:  # RTS 1000 0nnn
            self._cmd = b
            for n in range(3):
                if b & (1 << n):
                    regs[0x30 + 0x10 * n] |= 0x08
            self._transmit_pending()
        elif b == 0xA0:
            self._cmd = b
            intf = regs[CANINTF]
            self._status = (intf & 3 | (regs[0x30] & 8) >> 1 | (intf & 4) << 1
                            | (regs[0x40] & 8) << 1 | (intf & 8) << 2
                            | (regs[0x50] & 8) << 3 | (intf & 16) << 3)
        elif b == 0xB0:
            self._cmd = b
            self._status = self._rx_status()
        else:
            self._cmd = _NO_COMMAND  # unknown instruction: the chip ignores the rest

    def _rx_status(self):
        regs = self.regs
        intf = regs[CANINTF] & 3
        if not intf:
            return 0
        if intf & 1:  # RXB0 has priority: bits 4-0 describe it
            base = 0x61
            hit = regs[RXB0CTRL] & 1
        else:
            base = 0x71
            hit = regs[RXB1CTRL] & 7
            if hit < 2:
                hit += 6  # rolled over from RXB0
        sidl = regs[base + 1]
        ext = sidl & 0x08
        rtr = (regs[base + 4] & 0x40) if ext else (sidl & 0x10)
        return intf << 6 | (0x10 if ext else 0) | (0x08 if rtr else 0) | hit

    # --- registers ---------------------------------------------------------------------
    def read(self, addr):
        low = addr & 0x0F
        if low == 0x0E:
            return self.regs[CANSTAT]  # mirrored in every row of the map
        if low == 0x0F:
            return self.regs[CANCTRL]
        return self.regs[addr]

    def mode(self):
        return self.regs[CANSTAT] & 0xE0

    def _write(self, addr, value):
        regs = self.regs
        low = addr & 0x0F
        if low == 0x0F:
            regs[CANCTRL] = value
            req = value & 0xE0
            if req <= CONFIG:  # 101..111 are not valid requests
                regs[CANSTAT] = req | (regs[CANSTAT] & 0x1F)
                self._transmit_pending()
            return
        if low == 0x0E or addr == TEC or addr == REC or 0x61 <= addr <= 0x6D or 0x71 <= addr <= 0x7D:
            self.ignored_writes += 1  # read-only
            return
        if _config_only(addr) and self.mode() != CONFIG:
            self.ignored_writes += 1
            return
        if addr == EFLG:  # only RX0OVR/RX1OVR are writable
            regs[EFLG] = (regs[EFLG] & 0x3F) | (value & 0xC0)
        elif addr == RXB0CTRL:  # RXM, BUKT writable; BUKT1 copies BUKT
            bukt = value & 0x04
            regs[addr] = (regs[addr] & 0x09) | (value & 0x64) | (bukt >> 1)
        elif addr == RXB1CTRL:
            regs[addr] = (regs[addr] & 0x0F) | (value & 0x60)
        elif addr in (0x30, 0x40, 0x50):  # TXREQ and TXP writable
            regs[addr] = (regs[addr] & 0x70) | (value & 0x0B)
            if value & 0x08:
                self._transmit_pending()
        elif 0x31 <= addr <= 0x5D and (addr & 0x0F) <= 0x0D and regs[addr & 0xF0] & 0x08:
            self.violations.append("write to TX buffer register 0x%02x while its TXREQ is set" % addr)
        else:
            regs[addr] = value

    def _bit_modify(self, addr, mask, data):
        if addr & 0x0F != 0x0F and addr not in BIT_MODIFIABLE:
            mask = 0xFF
        self._write(addr, (self.read(addr) & ~mask & 0xFF) | (data & mask))

    # --- the bus -----------------------------------------------------------------------
    def inject(self, can_id, data, ext=False, rtr=False, dlc=None):
        """A frame on the bus (for a remote frame, len(data) is its DLC). Returns the
        receive buffer that took it (0 or 1), or None (filtered, overflow, not
        receiving)."""
        if not 0 <= can_id <= (0x1FFFFFFF if ext else 0x7FF):
            raise ValueError("inject: id 0x%x out of range" % can_id)
        if len(data) > 8:
            raise ValueError("inject: more than 8 data bytes")
        mode = self.mode()
        if mode not in (NORMAL, LISTEN_ONLY, LOOPBACK):
            return None
        if mode == LOOPBACK:
            return None  # loopback ignores the bus
        if self._tec > 255 and mode == NORMAL:
            return None  # bus-off: off the bus
        return self._receive(can_id, ext, rtr, data, len(data) if dlc is None else dlc)

    def _receive(self, can_id, ext, rtr, data, dlc):
        regs = self.regs
        hit0 = self._match(0, can_id, ext, rtr, data)
        hit1 = None if hit0 is not None else self._match(1, can_id, ext, rtr, data)
        if hit0 is not None:
            if not regs[CANINTF] & 1:
                self._load(0, can_id, ext, rtr, data, dlc, hit0)
                return 0
            if regs[RXB0CTRL] & 0x04 and not regs[CANINTF] & 2:  # BUKT rollover
                self._load(1, can_id, ext, rtr, data, dlc, hit0)
                return 1
            regs[EFLG] |= EFLG_RX1OVR if regs[RXB0CTRL] & 0x04 else EFLG_RX0OVR
            return None
        if hit1 is not None:
            if not regs[CANINTF] & 2:
                self._load(1, can_id, ext, rtr, data, dlc, hit1)
                return 1
            regs[EFLG] |= EFLG_RX1OVR
        return None

    def _match(self, buffer, can_id, ext, rtr, data):
        """Number of the first filter of this buffer that accepts the frame, or None."""
        regs = self.regs
        if (regs[RXB0CTRL if buffer == 0 else RXB1CTRL] >> 5) & 3 == 3:
            return 0 if buffer == 0 else 2  # mask/filters off: any message
        m = 0x20 + 4 * buffer
        first, last = (0, 2) if buffer == 0 else (2, 6)
        for n in range(first, last):
            f = _filter_addr(n)
            if bool(regs[f + 1] & 0x08) != bool(ext):  # EXIDE: std-only or ext-only filter
                continue
            msid = regs[m] << 3 | regs[m + 1] >> 5
            fsid = regs[f] << 3 | regs[f + 1] >> 5
            sid = can_id >> 18 if ext else can_id
            if (sid ^ fsid) & msid:
                continue
            if ext:
                meid = (regs[m + 1] & 3) << 16 | regs[m + 2] << 8 | regs[m + 3]
                feid = (regs[f + 1] & 3) << 16 | regs[f + 2] << 8 | regs[f + 3]
                if (can_id ^ feid) & meid & 0x3FFFF:
                    continue
            else:
                # RXM 00: the EID filter bits meet data bytes 0-1 of standard frames
                # (the datasheet is silent on shorter frames: missing bytes count as 0)
                meid = regs[m + 2] << 8 | regs[m + 3]
                if meid:
                    d0 = data[0] if len(data) > 0 and not rtr else 0
                    d1 = data[1] if len(data) > 1 and not rtr else 0
                    if ((d0 << 8 | d1) ^ (regs[f + 2] << 8 | regs[f + 3])) & meid:
                        continue
            return n
        return None

    def _load(self, buffer, can_id, ext, rtr, data, dlc, hit):
        regs = self.regs
        base = 0x61 if buffer == 0 else 0x71
        if ext:
            sid = can_id >> 18
            regs[base] = sid >> 3
            regs[base + 1] = (sid & 7) << 5 | 0x08 | (can_id >> 16) & 3
            regs[base + 2] = (can_id >> 8) & 0xFF
            regs[base + 3] = can_id & 0xFF
        else:
            regs[base] = can_id >> 3
            regs[base + 1] = (can_id & 7) << 5 | (0x10 if rtr else 0)  # SRR: standard remote
            regs[base + 2] = 0
            regs[base + 3] = 0
        regs[base + 4] = dlc | (0x40 if ext and rtr else 0)
        if not rtr:  # a remote frame carries no data: the buffer keeps old bytes
            for i in range(len(data)):
                regs[base + 5 + i] = data[i]
        ctrl = base - 1
        if buffer == 0:
            regs[ctrl] = (regs[ctrl] & 0x66) | (0x08 if rtr else 0) | hit
        else:
            regs[ctrl] = (regs[ctrl] & 0x60) | (0x08 if rtr else 0) | hit
        regs[CANINTF] |= 1 << buffer

    def _transmit_pending(self):
        for n in range(3):
            if self.regs[0x30 + 0x10 * n] & 0x08:
                self._transmit(n)

    def _transmit(self, n):
        regs = self.regs
        mode = self.mode()
        if mode == LOOPBACK:
            self._receive(*self._tx_frame(n))
        elif mode == NORMAL and self._tec <= 255 and self.auto_ack:
            can_id, ext, rtr, data, dlc = self._tx_frame(n)
            self.sent.append((can_id, ext, rtr, data))
        else:
            return  # stays pending: listen-only, configuration, bus-off or no ACK yet
        regs[0x30 + 0x10 * n] &= ~0x08 & 0xFF
        regs[CANINTF] |= 4 << n  # TXnIF

    def _tx_frame(self, n):
        regs = self.regs
        base = 0x31 + 0x10 * n
        sidl = regs[base + 1]
        sid = regs[base] << 3 | sidl >> 5
        ext = bool(sidl & 0x08)
        can_id = (sid << 18 | (sidl & 3) << 16 | regs[base + 2] << 8 | regs[base + 3]) if ext else sid
        rtr = bool(regs[base + 4] & 0x40)
        dlc = regs[base + 4] & 0x0F
        data = bytes(regs[base + 5:base + 5 + min(dlc, 8)])
        return can_id, ext, rtr, data, dlc

    def ack_tx(self):
        """Another node acknowledges: pending frames leave in normal mode."""
        auto, self.auto_ack = self.auto_ack, True
        self._transmit_pending()
        self.auto_ack = auto

    # --- errors ------------------------------------------------------------------------
    def set_error_counters(self, tec, rec):
        """Error counters after bus trouble; EFLG follows (96 warning, 128 passive,
        > 255 bus-off, as CAN 2.0 and the datasheet's error-mode diagram say)."""
        self._tec = tec
        self._rec = rec
        regs = self.regs
        regs[TEC] = min(tec, 255)
        regs[REC] = min(rec, 255)
        flags = regs[EFLG] & 0xC0
        if rec >= 96:
            flags |= EFLG_RXWAR | EFLG_EWARN
        if tec >= 96:
            flags |= EFLG_TXWAR | EFLG_EWARN
        if rec >= 128:
            flags |= EFLG_RXEP
        if tec >= 128:
            flags |= EFLG_TXEP
        if tec > 255:
            flags |= EFLG_TXBO
        regs[EFLG] = flags

    def recover_from_bus_off(self):
        """128 occurrences of 11 recessive bits: error-active again, counters 0."""
        self.set_error_counters(0, 0)


class FakePin:
    """machine.Pin for the chip select: value(0) selects the chip, value(1) ends the
    transaction."""

    def __init__(self, chip=None, level=1):
        self._chip = chip
        self._level = level

    def value(self, v=None):
        if v is None:
            return self._level
        v = 1 if v else 0
        if v != self._level:
            self._level = v
            if self._chip is not None:
                if v:
                    self._chip.deselect()
                else:
                    self._chip.select()
        return None


class FakeSPI:
    """machine.SPI: write, readinto, write_readinto. Without a chip (nothing wired) MISO
    reads `idle` (0xFF with a pull-up, 0x00 when floating low)."""

    def __init__(self, chip=None, idle=0xFF):
        self._chip = chip
        self._idle = idle

    def _byte(self, b):
        chip = self._chip
        if chip is None:
            return self._idle
        return chip.exchange(b)

    def write(self, buf):
        for i in range(len(buf)):
            self._byte(buf[i])
        return None

    def readinto(self, buf, write=0x00):
        for i in range(len(buf)):
            buf[i] = self._byte(write)
        return None

    def write_readinto(self, out, into):
        if len(out) != len(into):
            raise ValueError("buffers must be the same length")  # as machine.SPI
        for i in range(len(out)):
            into[i] = self._byte(out[i])
        return None
