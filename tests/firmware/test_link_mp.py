"""firmware/link.py inside MicroPython: the shared vectors, the same verdicts as the host
on garbage-laden streams, and the board's CAN batch → decoder → TELEMETRY path checked
against cantools, with no heap allocated per frame."""

from __future__ import annotations

import importlib.util
import json
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools import REPO_ROOT
from host_tools.codegen.build import PYBOARD_MARCH, compile_mpy
from host_tools.dbc import load_dbc
from host_tools.board_codes import RESULT_STATUS
from host_tools.engines import DECODED
from host_tools.engines.cantools_engine import decode_one
from host_tools.engines.firmware_engine import MODULE, build_module
from host_tools.link import messages as m
from host_tools.link import wire
from host_tools.tools import tool
from mule_testing import FILES, PROJECT_DBC, random_frame

FIRMWARE = REPO_ROOT / "firmware"
SCRIPT = Path(__file__).resolve().parent / "link_vectors_mp.py"
VECTORS = REPO_ROOT / "tests" / "vectors"


def _host_tests():
    """tests/host/test_link_wire.py: the garbage splicer and its checks, shared."""
    path = REPO_ROOT / "tests" / "host" / "test_link_wire.py"
    spec = importlib.util.spec_from_file_location("link_wire_tests", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run_mp(args: list[str], heap: str | None = None, firmware: Path = FIRMWARE) -> str:
    cmd = [tool("micropython")] + (["-X", f"heapsize={heap}"] if heap else [])
    result = subprocess.run(cmd + [str(SCRIPT), str(firmware), *args], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    """firmware/link.py as the board gets it: an .mpy for the unix port, alone in a folder
    (with changed.py, which packs telemetry "changed"'s runs)."""
    directory = tmp_path_factory.mktemp("link-mpy")
    compile_mpy(FIRMWARE / "link.py", "x64", directory / "link.mpy")
    compile_mpy(FIRMWARE / "changed.py", "x64", directory / "changed.mpy")
    return directory


@pytest.fixture(scope="module")
def vectors_dir(tmp_path_factory) -> Path:
    """tests/vectors with streams.json cut into one file per vector (streams/NNN.json), so
    a 100 KB heap need not hold them all at once."""
    directory = tmp_path_factory.mktemp("vectors")
    for name in ("crc.json", "cobs.json", "messages.json", "constants.json"):
        (directory / name).write_text((VECTORS / name).read_text())
    (directory / "streams").mkdir()
    for k, vector in enumerate(json.loads((VECTORS / "streams.json").read_text())["streams"]):
        (directory / "streams" / f"{k:03d}.json").write_text(json.dumps(vector))
    return directory


@pytest.mark.parametrize("variant", ["source", "source-100K", "mpy-100K", "plain"])
def test_vectors_pass_in_micropython(variant, compiled, vectors_dir):
    heap = "100K" if variant.endswith("100K") else None
    args = ["vectors", str(vectors_dir)] + (["plain"] if variant == "plain" else [])
    result = json.loads(run_mp(args, heap, compiled if variant.startswith("mpy") else FIRMWARE))
    assert result["failures"] == []
    assert result["checks"] >= 300


def test_vectors_pass_from_the_whole_streams_file():
    result = json.loads(run_mp(["vectors", str(VECTORS)]))
    assert result["failures"] == [] and result["checks"] >= 300


def _link_consts() -> dict:
    """firmware/link.py's module-level const()s by name, a leading underscore dropped (the
    board's other modules read only some: the rest are private, no name on the board's heap)."""
    import ast

    out = {}
    for node in ast.parse((FIRMWARE / "link.py").read_text(encoding="utf-8")).body:
        if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", None) == "const" and isinstance(node.value.args[0], ast.Constant)):
            out[node.targets[0].id.lstrip("_")] = node.value.args[0].value
    return out


def test_firmware_constants_equal_the_hosts(vectors_dir):
    run = json.loads(run_mp(["vectors", str(vectors_dir)]))["constants"]
    source = _link_consts()
    assert {k: source[k] for k in run} == run  # what MicroPython sees is what the source says
    c = {k: source[k] for k in ("PROTO_VERSION", "MAX_PAYLOAD", "MAX_BODY", "MAX_ENCODED", "MAX_WIRE", "HEADER",
                                "CRC_SIZE", "CAN_BATCH_HEADER", "CAN_RECORD_HEADER", "CAN_MAX_DATA", "STATS_COUNT",
                                "MODE_LIVE", "MODE_REPLAY", "FRAME_NO_MASK", *wire.TYPE_NAMES.values())}
    host = {"PROTO_VERSION": wire.PROTO_VERSION, "MAX_PAYLOAD": wire.MAX_PAYLOAD, "MAX_BODY": wire.MAX_BODY,
            "MAX_ENCODED": wire.MAX_ENCODED, "MAX_WIRE": wire.MAX_WIRE, "HEADER": wire.HEADER,
            "CRC_SIZE": wire.CRC_SIZE, "CAN_BATCH_HEADER": m.CAN_BATCH_HEADER,
            "CAN_RECORD_HEADER": m.CAN_RECORD_HEADER, "CAN_MAX_DATA": m.CAN_MAX_DATA,
            "STATS_COUNT": len(m.STATS_FIELDS), "MODE_LIVE": m.MODE_LIVE, "MODE_REPLAY": m.MODE_REPLAY,
            "FRAME_NO_MASK": wire.FRAME_NO_MASK}
    host.update({name: code for code, name in wire.TYPE_NAMES.items()})
    assert c == host
    shared = json.loads((VECTORS / "constants.json").read_text())
    assert {k: c[k] for k in shared["types"]} == shared["types"]
    assert all(c[k] == shared[k] for k in ("MAX_PAYLOAD", "MAX_BODY", "MAX_ENCODED", "MAX_WIRE"))


def test_compiles_for_a_pyboard(tmp_path):
    out = compile_mpy(FIRMWARE / "link.py", PYBOARD_MARCH, tmp_path / "link.mpy")
    assert out.stat().st_size > 0


@pytest.mark.parametrize("heap", [None, "100K"])
def test_same_garbage_same_verdict_as_the_host(tmp_path, heap, compiled):
    """Random garbage spliced into valid frames every K frames: both receivers accept the
    same frames (each one byte-identical to one sent) and count the same errors. On a
    100 KB heap link.py is the .mpy a board gets (compiling its source there takes more
    heap than running it)."""
    tests = _host_tests()
    rnd = random.Random(f"garbage-{heap}")
    cases, inputs = [], []
    for _ in range(30):
        case = tests.splice_stream(random.Random(rnd.getrandbits(64)), n_frames=50, every=rnd.randint(2, 6))
        chunk = rnd.choice([1, 7, 64, 256, 4096])
        cases.append((case, chunk))
        inputs.append((case.stream, chunk))
    path = tmp_path / "streams.bin"
    path.write_bytes(struct.pack("<I", max(len(data) for data, _ in inputs))
                     + b"".join(struct.pack("<II", len(data), chunk) + data for data, chunk in inputs))
    boards, frames = [], []
    for line in run_mp(["streams", str(path)], heap, compiled if heap else FIRMWARE).splitlines():
        item = json.loads(line)
        if "counters" in item:
            boards.append((frames, item["counters"]))
            frames = []
        else:
            frames.append(item)
    assert len(boards) == len(cases)
    for (case, chunk), (board_frames, board_counters) in zip(cases, boards):
        host = m.board_receiver()
        host_frames = tests.feed_in_chunks(host, case.stream, [chunk] * len(case.stream))
        tests.check_spliced(case, host_frames, host.counters())
        assert board_frames == tests.frames_as_dicts(host_frames)
        assert board_counters == host.counters()


def _merged(telemetry_frames, wide) -> dict[int, m.TelemetryRecord]:
    """frame_no → record, joining a record split over frames."""
    merged: dict[int, m.TelemetryRecord] = {}
    for frame in telemetry_frames:
        for r in m.Telemetry.decode(frame.body, wide).records:
            if r.frame_no in merged:
                before = merged[r.frame_no]
                assert before.result == r.result
                r = m.TelemetryRecord(r.frame_no, r.result, before.signals + r.signals)
            merged[r.frame_no] = r
    return merged


def _raw_bits(signal, value) -> int:
    if signal.is_float:
        return int.from_bytes(struct.pack("<f" if signal.length == 32 else "<d", value), "little")
    return value


def _many_signals_dbc(path: Path) -> Path:
    """A 64-byte frame of 4 signals of 40 bits and 88 of 4 bits: its TELEMETRY record
    (8 + 4 × 10 + 88 × 6 = 576 bytes) must be split over two frames."""
    signals = [f" SG_ Wide{k} : {40 * k}|40@1- (1,0) [0|0] \"\" Rx" for k in range(4)]
    signals += [f" SG_ Cell{k} : {160 + 4 * k}|4@1+ (1,0) [0|15] \"\" Rx" for k in range(88)]
    path.write_text("\n".join([
        'VERSION ""', "", "NS_ :", "", "BS_:", "", "BU_: Tx Rx", "",
        "BO_ 512 ManyCells: 64 Tx", *signals, "",
        "BO_ 513 Small: 8 Tx", ' SG_ Counter : 0|8@1+ (1,0) [0|255] "" Rx', "",
        'BA_DEF_ BO_  "VFrameFormat" ENUM  "StandardCAN","ExtendedCAN","reserved","J1939PG",'
        '"reserved","reserved","reserved","reserved","reserved","reserved","reserved","reserved",'
        '"reserved","reserved","StandardCAN_FD","ExtendedCAN_FD";',
        'BA_DEF_DEF_  "VFrameFormat" "StandardCAN";', 'BA_ "VFrameFormat" BO_ 512 14;', ""]))
    return path


@pytest.mark.parametrize("path", [PROJECT_DBC, "many_signals"] + [
    FILES / "dbc" / f"{n}.dbc" for n in ("wide_signals", "float_signals", "mux_extended", "canfd_64")],
    ids=lambda p: getattr(p, "stem", p))
def test_board_pipeline_sends_what_cantools_decodes_without_allocating(tmp_path, path, compiled):
    if path == "many_signals":
        path = _many_signals_dbc(tmp_path / "many_signals.dbc")
    dbc = load_dbc(path)
    build_module(dbc, tmp_path, "viper", tables="none")  # the script calls DECODERS only (no table walker)
    rnd = random.Random(path.name)
    frames = [f for f in (random_frame(dbc, rnd) for _ in range(300)) if len(f.data) <= m.CAN_MAX_DATA]
    first_no = 0x3FFFFF00  # numbers wrap at 2**30 (docs/protocol.md): small ints on the board
    records = [m.CanRecord(k * 1000, f.can_id, f.ext, bytes(f.data)) for k, f in enumerate(frames)]
    encoder = wire.FrameEncoder()
    stream = b"".join(encoder.encode(wire.CAN, b.encode()) for b in m.split_batches(records, first_no))
    (tmp_path / "stream.bin").write_bytes(stream)

    # link.mpy as the board runs it: compiling link.py on a 100 KB heap beside the stream runs out
    lines = run_mp(["pipeline", str(tmp_path), MODULE, str(tmp_path / "stream.bin")], "100K",
                   compiled).splitlines()
    summary = json.loads(lines[-1])
    assert summary["frames"] == len(m.split_batches(records, first_no))
    assert summary["counters"] == [0, 0, 0]
    # the receive → decode → pack path allocates nothing per frame (the flush's write is
    # the caller's: stream.write(writer.wire, n) takes no slice)
    assert summary["alloc_1"] == 0 and summary["alloc_2"] == 0

    host = m.host_receiver()
    out = host.feed(bytes.fromhex("".join(lines[:-1])))
    assert host.counters() == {"frames": len(out), "crc_errors": 0, "bad_frames": 0, "seq_gaps": 0}
    assert [f.seq for f in out] == list(range(len(out)))
    assert all(f.type == wire.TELEMETRY for f in out)
    got = _merged(out, m.wide_signals(dbc))
    if path.stem == "many_signals":
        pieces = [r for f in out for r in m.Telemetry.decode(f.body, m.wide_signals(dbc)).records]
        assert len(pieces) > len(got)  # some records were split ...
        assert all(len(f.body) <= wire.MAX_BODY for f in out)  # ... because they had to be
    assert sorted(got) == sorted((first_no + k) & wire.FRAME_NO_MASK for k in range(len(frames)))
    for k, frame in enumerate(frames):
        record = got[(first_no + k) & wire.FRAME_NO_MASK]
        want = decode_one(dbc, frame.can_id, frame.ext, frame.data)
        if record.result < 0:
            assert (want.status, record.signals) == (RESULT_STATUS[record.result], ())
            continue
        message = dbc.messages[record.result]
        assert (want.status, want.msg) == (DECODED, message.name)
        values = {}
        for s in record.signals:
            signal = message.signals[s.si]
            values[signal.name] = s.raw(signal.length, signal.is_signed and not signal.is_float)
        expected = {name: _raw_bits(message.get_signal_by_name(name), v) for name, v in want.raw.items()}
        assert values == expected, f"frame {k}: id {frame.can_id:#x} data {frame.data.hex()}"


def test_the_fullest_can_batch_fits_the_readers_record_offsets(compiled):
    """A CAN batch of as many records as MAX_BODY holds (empty frames: 9 bytes each) is taken
    whole, every record read back, and FrameReader's offsets array (sized to that count, not
    to the u8 count's 255) has a place for each."""
    records = [m.CanRecord(k, 0x100 + k, False, b"") for k in range((m.MAX_BODY - m.CAN_BATCH_HEADER)
                                                                    // m.CAN_RECORD_HEADER)]
    (batch,) = m.split_batches(records, first_no=7)
    stream = wire.FrameEncoder().encode(*m.encode(batch))
    script = ("import sys\nsys.path.insert(0, %r)\nimport link\nfrom array import array\n"
              "r = link.FrameReader()\nr.feed(bytearray(%r))\nassert r.next() == link.CAN\n"
              "rec = array('i', bytes(16))\ndata = bytearray(64)\nout = []\n"
              "for i in range(r.count):\n    r.can_record(i, rec, data)\n    out.append(rec[1])\n"
              "print(r.count, len(r._offs) >= r.count, out == list(range(0x100, 0x100 + r.count)))\n"
              % (str(compiled), stream))
    result = subprocess.run([tool("micropython"), "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == [str(len(records)), "True", "True"], result.stdout + result.stderr
