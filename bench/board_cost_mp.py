# Runs inside MicroPython (the unix port, or the emulated Pyboard with -icount, where a
# microsecond is 1,000 instructions): the board's per-frame costs in µs per frame.
# Prints one line "key=value ..." (values µs per frame x 1000, integers) and "free=<bytes>".
# FW: the firmware folder, WIRE: host→board wire bytes (CAN batches, then STOP).
import gc
import sys
import time

import micropython

_ARGV = getattr(sys, "argv", [])  # the qemu port has none: its files are in /flash
FW = _ARGV[1] if len(_ARGV) > 2 else "/flash/fw"
WIRE = _ARGV[2] if len(_ARGV) > 2 else "/flash/wire.bin"
sys.path.insert(0, FW)
import app  # noqa: E402
import link  # noqa: E402

gc.collect()
free_start = gc.mem_free()


@micropython.viper
def _copy(dst, src, n: int):
    d = ptr8(dst)
    s = ptr8(src)
    i = 0
    while i < n:
        d[i] = s[i]
        i += 1


class Port:
    """The wire from memory in 256-byte reads, copied as a UART driver would (native)."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.at = 0

    def readinto(self, buf):
        if self.at >= len(self.chunks):
            return 0
        chunk = self.chunks[self.at]
        self.at += 1
        _copy(buf, chunk, len(chunk))
        return len(chunk)

    def write(self, buf, n):
        pass

    def wait(self, ms):
        pass

    def close(self):
        pass


def read_wire(path):
    """The wire file in 256-byte chunks, as Port hands them out (bench_telemetry.py's too)."""
    chunks = []
    with open(path, "rb") as f:
        while True:
            c = f.read(256)
            if not c:
                break
            chunks.append(c)
    return chunks


cfg = {"mode": "replay", "bus": 1, "bitrate": 500000, "decimation": 1, "port": "feed", "board": "bench"}
board = app.Board(cfg, Port([]))
gc.collect()
free_after_start = gc.mem_free()
chunks = read_wire(WIRE)

out = []


def note(key, us, frames):
    out.append("%s=%d" % (key, us * 1000 // frames))


ticks = time.ticks_us
diff = time.ticks_diff

# without supervision first: what the rest of the path costs. Measured second, on the same
# wire after the supervised run, it came out ~1,000 instructions a frame dearer (unexplained:
# same output, same path, 0 B allocated, gc off), so it runs first
bare = app.Board(dict(cfg, supervise=False), Port(chunks))
bare.hello()
gc.collect()
t0 = ticks()
bare.run()
note("run_bare", diff(ticks(), t0), bare.stats[1])
bare = None
gc.collect()

# the whole path: Board.run over the wire (link reader → decode → supervise → TELEMETRY)
board.port = Port(chunks)
board.hello()
gc.collect()
t0 = ticks()
board.run()
total = board.stats[1]
note("run", diff(ticks(), t0), total)

# the frames again, as records in memory, for the parts alone (the first 300)
reader = link.FrameReader()
recs = []
rec = board.record
data = board.data
for c in chunks:
    reader.feed(c)
    while True:
        kind = reader.next()
        if kind < 0:
            break
        if kind == link.CAN:
            for i in range(reader.count):
                n = reader.can_record(i, rec, data)
                if len(recs) < 300:
                    recs.append((reader.can_frame_no(i), rec[1], rec[2], bytes(data[:n]), n, rec[0]))
N = len(recs)
gc.collect()

# link reader alone: feed, next, every record (Board.replay_batch counts the numbers itself)
r2 = link.FrameReader()


def loop_reader():
    t0 = ticks()
    for c in chunks:
        r2.feed(c)
        while True:
            kind = r2.next()
            if kind < 0:
                break
            if kind == link.CAN:
                for i in range(r2.count):
                    r2.can_record(i, rec, data)
    return diff(ticks(), t0)


def loop_frame_no():  # can_frame_no alone (on the last batch), minus the loop
    t0 = ticks()
    for j in range(1000):
        r2.can_frame_no(0)
    t_no = diff(ticks(), t0)
    t0 = ticks()
    for j in range(1000):
        pass
    return t_no - diff(ticks(), t0)

lanes, selected = board.lanes, board.selected
decoders = board.decoders
EXT = 0x20000000


def loop_empty():
    t0 = ticks()
    for fno, cid, ext, d, n, t in recs:
        key = cid | EXT if ext else cid
        fn = decoders.get(key)
    return diff(ticks(), t0)


def loop_decode():
    t0 = ticks()
    for fno, cid, ext, d, n, t in recs:
        key = cid | EXT if ext else cid
        fn = decoders.get(key)
        if fn is not None:
            fn(d, lanes, selected, n)
    return diff(ticks(), t0)


def loop_supervise():
    sup = board.supervisor
    sup.reset()  # the same records again: a fresh supervision, no time running backwards
    t0 = ticks()
    for fno, cid, ext, d, n, t in recs:
        key = cid | EXT if ext else cid
        fn = decoders.get(key)
        r = fn(d, lanes, selected, n) if fn is not None else -1
        sup.frame(fno, t, r, cid, ext, d, n, lanes, selected)
    return diff(ticks(), t0)


def loop_telemetry():
    w = board.writer
    t0 = ticks()
    for fno, cid, ext, d, n, t in recs:
        key = cid | EXT if ext else cid
        fn = decoders.get(key)
        r = fn(d, lanes, selected, n) if fn is not None else -1
        k = w.telemetry(fno, r, lanes, selected)
        while k >= 0:
            w.telemetry_flush()
            k = w.telemetry(fno, r, lanes, selected, k)
    w.telemetry_flush()
    return diff(ticks(), t0)


def loop_board_decode(reset=True):
    dec = board.decode
    w = board.writer
    if reset and board.supervisor is not None:
        board.supervisor.reset()
    t0 = ticks()
    for fno, cid, ext, d, n, t in recs:
        dec(fno, cid, ext, d, n, t)
    board.send(w.telemetry_flush())
    return diff(ticks(), t0)


best = {}
for rep in range(5):  # each loop's best of five passes (the unix port shares its machine)
    for key, us in (("empty", loop_empty()), ("decode", loop_decode()),
                    ("supervised", loop_supervise() if board.supervisor is not None else 0),
                    ("telemetry", loop_telemetry()), ("board_decode", loop_board_decode()),
                    ("reader", loop_reader()), ("frame_no", loop_frame_no())):
        best[key] = min(best.get(key, us), us)
# heap bytes per frame on the board's per-frame path (Board.decode), collector off; the
# supervision's reset before it (a new session's: it reads its tables' file) is not per frame
if board.supervisor is not None:
    board.supervisor.reset()
gc.collect()
gc.disable()
a0 = gc.mem_alloc()
loop_board_decode(False)
alloc = gc.mem_alloc() - a0
gc.enable()
out.append("alloc=%d" % (alloc // N))
note("decoder", best["decode"] - best["empty"], N)
note("supervise", max(0, best["supervised"] - best["decode"]), N)
note("telemetry", best["telemetry"] - best["decode"], N)
note("board_decode", best["board_decode"], N)
note("reader", best["reader"], total)
note("frame_no", best["frame_no"], 1000)
out.append("frames=%d" % total)
out.append("supervised=%d" % (1 if board.supervisor is not None else 0))
out.append("free=%d" % free_after_start)
print(" ".join(out))
