"""Read CAN log files as a stream of frames: candump .log (-L, and the screen formats
``vcan0 0C8 [8] F0 ...`` with or without a time), Vector .asc and .blf, PEAK .trc,
python-can's .csv, .mf4 (python-can's reader on asammdf) and .db (SQLite); each of
them gzip-compressed too (``.asc.gz``), as python-can's LogReader takes them.

python-can's readers do the parsing (cantools' log reader for candump's screen formats);
this module adds where each frame came from, validation, and an account of every record
that produced no frame. Quirks python-can reads leniently (an ASC classic frame with a
DLC code above 8, a CAN FD record whose DLC disagrees with its length) are read the same
way and each counted as an oddity with its file:line; ``strict=True`` refuses them.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import can
from can.io.asc import ASCReader
from can.io.blf import BLFReader
from can.io.canutils import CanutilsLogReader
from can.io.csv import CSVReader
from can.io.trc import TRCReader

from host_tools.text import printable

__all__ = ["Frame", "LogError", "LogStats", "read_frames", "readable_suffixes", "supported_suffixes"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One CAN record from a log."""

    t: float  # timestamp, seconds, as the log gives it
    can_id: int  # arbitration id, no flag bits
    ext: bool  # 29-bit id
    data: bytes  # payload (b"" for remote/error frames)
    kind: str  # "data", "remote" or "error"
    is_fd: bool
    channel: str | int | None
    where: str  # "path:LINE" for text logs, "path#N" (frame N, 1-based) for BLF


class LogError(Exception):
    """A log cannot be read, or holds a malformed record.

    str() is "path:LINE: reason" for text logs, "path#N: reason" for BLF
    (N = 1-based frame index) and "path: reason" when no position applies.
    """

    def __init__(
        self,
        path: str | Path,
        line: int | None,
        reason: str,
        *,
        index: int | None = None,
        truncated: bool = False,
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.index = index  # BLF frame index, when line is None
        self.reason = reason
        self.truncated = truncated  # the file ends early (LogStats.truncated)
        super().__init__(str(self))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_log_error, (self.path, self.line, self.reason, self.index, self.truncated))

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.path}:{self.line}: {self.reason}"
        if self.index is not None:
            return f"{self.path}#{self.index}: {self.reason}"
        return f"{self.path}: {self.reason}"


def _log_error(
    path: Path, line: int | None, reason: str, index: int | None, truncated: bool = False
) -> LogError:
    return LogError(path, line, reason, index=index, truncated=truncated)


@dataclass
class LogStats:
    """What read_frames saw besides the frames themselves."""

    frames: int = 0  # records yielded (all kinds)
    # (where, reason) of malformed records skipped with skip_bad=True
    bad_records: list[tuple[str, str]] = field(default_factory=list)
    # non-frame records ignored on purpose, by kind ("asc:comment", "trc:status", ...)
    ignored: dict[str, int] = field(default_factory=dict)
    # the file ends before its frames do (a cut BLF, or one unreadable from some byte on):
    # where, and what is known of what was lost; the frames before it were read
    truncated: str | None = None
    # what python-can logged while reading (kept off the terminal, made printable)
    library_messages: list[str] = field(default_factory=list)
    library_message_count: int = 0
    # records read leniently, as python-can reads them (where, what was odd); the first
    # _KEEP_ODDITIES are kept, oddity_count counts them all
    oddities: list[tuple[str, str]] = field(default_factory=list)
    oddity_count: int = 0
    # Frame.t + epoch_offset is Unix time (UTC) when the log says when it started (BLF,
    # candump -L and -ta, TRC with a start time, ASC with a date line: epoch_offset is
    # that date, since ASC times count from it); None: the log's times are seconds from
    # its start and nothing in it says when that was
    epoch_offset: float | None = 0.0

    def _ignore(self, kind: str, n: int = 1) -> None:
        self.ignored[kind] = self.ignored.get(kind, 0) + n

    def _odd(self, where: str, reason: str) -> None:
        self.oddity_count += 1
        if len(self.oddities) < _KEEP_ODDITIES:
            self.oddities.append((where, reason))


_KEEP_ODDITIES = 20
_SUFFIXES = (".log", ".asc", ".blf", ".trc", ".csv", ".mf4", ".db")
_COMPRESSED = (".gz",)  # what python-can's LogReader decompresses


def supported_suffixes() -> tuple[str, ...]:
    """The text and BLF formats (matched case-insensitively), which python-can also writes
    (mule monitor records to them); readable_suffixes() adds .mf4 and .db."""
    return _SUFFIXES[:5]


def readable_suffixes() -> tuple[str, ...]:
    """File extensions read_frames understands; each also gzip-compressed, with .gz after
    it (.asc.gz), except .mf4 and .db."""
    return _SUFFIXES


def _log_kind(p: Path) -> tuple[str, bool]:
    """(format suffix, gzip-compressed) of a log's name; ("", False) when unknown."""
    suffix = p.suffix.lower()
    if suffix in _COMPRESSED:
        inner = Path(p.stem).suffix.lower()
        if inner in _SUFFIXES and inner not in (".mf4", ".db"):
            return inner, True
        return "", True
    return (suffix, False) if suffix in _SUFFIXES else ("", False)


class _CutGzip(Exception):
    pass


def _gz_text_lines(path: Path, fh: Any) -> Iterator[str]:
    """Lines of a gzip-compressed text log; a cut or corrupt stream ends them with _CutGzip."""
    try:
        yield from fh
    except (OSError, EOFError, zlib.error) as exc:
        raise _CutGzip(f"compressed stream cut or corrupt ({_describe(exc)})") from None


# --------------------------------------------------------------------------
# python-can's own messages
#
# python-can logs a warning (through logging's last-resort handler: straight to stderr)
# for some records it skips, quoting the raw line -- terminal escapes and all. While a log
# is read here those messages go to LogStats instead, printable; the records themselves
# are reported as bad records with their file:line.

_CAN_IO = logging.getLogger("can.io")
_KEEP_MESSAGES = 20
_active = [0, True]  # reads in progress; can.io's propagate flag before the first


class _ToStats(logging.Handler):
    def __init__(self, stats: LogStats) -> None:
        super().__init__(logging.WARNING)
        self.stats = stats

    def emit(self, record: logging.LogRecord) -> None:
        stats = self.stats
        stats.library_message_count += 1
        if len(stats.library_messages) < _KEEP_MESSAGES:
            try:
                text = record.getMessage()
            except Exception:  # a malformed record must not stop the reading
                text = str(record.msg)
            stats.library_messages.append(printable(_quote_text(text, 160)))


@contextlib.contextmanager
def _python_can_messages(stats: LogStats) -> Iterator[None]:
    handler = _ToStats(stats)
    if _active[0] == 0:
        _active[1] = _CAN_IO.propagate
        _CAN_IO.propagate = False
    _active[0] += 1
    _CAN_IO.addHandler(handler)
    try:
        yield
    finally:
        _CAN_IO.removeHandler(handler)
        _active[0] -= 1
        if _active[0] == 0:
            _CAN_IO.propagate = bool(_active[1])


# --------------------------------------------------------------------------
# frame validation (shared by all formats)

_FD_LENGTHS = frozenset((0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64))
_DLC2LEN = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64)
_new = object.__new__


class _FrameBuilder:
    """Same slot layout as Frame but mutable: a frame is filled in here and then
    becomes a Frame by __class__ assignment (allowed between classes of identical
    layout). Same result as Frame(...), but several times cheaper -- the frozen
    dataclass __init__ goes through object.__setattr__ once per field, which
    dominated the per-frame overhead. Callers only ever see frozen Frames."""

    __slots__ = Frame.__slots__  # type: ignore[attr-defined]


def _make_frame(
    t: float,
    can_id: int,
    ext: bool,
    data: bytes,
    kind: str,
    is_fd: bool,
    channel: Any,
    where: str,
) -> Frame:
    f: Any = _new(_FrameBuilder)
    f.t = t
    f.can_id = can_id
    f.ext = ext
    f.data = data
    f.kind = kind
    f.is_fd = is_fd
    f.channel = channel
    f.where = where
    f.__class__ = Frame
    return f  # type: ignore[no-any-return]


def _check_msg(msg: can.Message, fd_dlc_is_code: bool) -> tuple[str, bytes] | str:
    """(kind, data) for a valid message, else a string saying what is wrong."""
    t = msg.timestamp
    if t - t != 0.0:  # nan or inf
        return f"timestamp {t} is not finite"
    if msg.is_error_frame:
        return ("error", b"")
    aid = msg.arbitration_id
    if msg.is_extended_id:
        if not 0 <= aid <= 0x1FFFFFFF:
            return f"id 0x{aid:X} does not fit in 29 bits"
    elif not 0 <= aid <= 0x7FF:
        return f"id 0x{aid:X} is above 0x7FF but marked standard (11-bit)"
    if msg.is_remote_frame:
        return ("remote", b"")
    data = bytes(msg.data)
    n = len(data)
    dlc = msg.dlc
    if msg.is_fd:
        if n not in _FD_LENGTHS:
            return f"CAN FD frame with {n} data bytes (not a valid CAN FD length)"
        if dlc != n and not (fd_dlc_is_code and 0 <= dlc <= 15 and _DLC2LEN[dlc] == n):
            return f"dlc {dlc} disagrees with {n} data bytes"
    else:
        if n > 8:
            return f"classic CAN frame with {n} data bytes (max 8)"
        if dlc != n:
            return f"dlc {dlc} disagrees with {n} data bytes"
    return ("data", data)


def _quote_text(line: str, limit: int = 60) -> str:
    s = " ".join(line.split())
    if len(s) > limit:
        s = s[: limit - 3] + "..."
    return s


def _quote(line: str, limit: int = 60) -> str:
    return repr(_quote_text(line, limit))  # repr: control characters come out escaped


def _describe(exc: BaseException) -> str:
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


# --------------------------------------------------------------------------
# text formats
#
# Each text format object knows python-can's header rules for its reader (so the
# header can be read here first and replayed to every fresh reader), classifies
# lines that python-can consumed without producing a frame, and may add checks.

_TS = r"\d+(?:\.\d*)?"
# reasons for lines python-can skipped that were nevertheless meant as frames
_ASC_UNPARSED = "looks like a CAN frame but python-can did not parse it"
_TRC_UNPARSED = "frame record not parsed by python-can (missing fields?)"


class _TextFormat:
    name = ""
    title = ""  # for messages: "candump", "ASC"...
    reader_cls: Callable[..., Iterable[can.Message]]
    fd_dlc_is_code = False
    # call fix() for extended-id / CAN FD messages (error frames: always)
    fix_ext = False
    fix_fd = False
    dlc_hint = ""  # appended to "dlc disagrees" reasons
    comment: str | None = None  # what a comment line starts with

    def __init__(self, path: Path, compressed: bool = False, strict: bool = False,
                 accept_truncated: bool = False) -> None:
        self.path = path
        self.compressed = compressed
        self.strict = strict
        self.accept_truncated = accept_truncated
        self.replay: list[str] = []  # header lines fed to every new reader
        self.oddity: str | None = None  # set by fix() for a record read leniently
        self.stats: LogStats | None = None
        self.epoch_offset: float | None = 0.0  # see LogStats.epoch_offset

    def prescan(self, it: Iterator[str], stats: LogStats) -> tuple[str | None, int]:
        """Read the header from it; return (first body line or None, lines consumed)."""
        return next(it, None), 0

    def classify(self, line: str) -> tuple[str | None, str | None]:
        """(ignored kind, None) or (None, reason) for a line that gave no frame."""
        s = line.strip()
        if not s:
            return f"{self.name}:blank", None
        if self.comment is not None and s.startswith(self.comment):
            return f"{self.name}:comment", None
        return self.classify_record(s, line)

    def classify_record(self, s: str, line: str) -> tuple[str | None, str | None]:
        """classify() for a line that is neither blank nor a comment (`s`: stripped)."""
        return None, f"record produced no frame: {_quote(line)}"

    def fix(self, msg: can.Message, line: str) -> can.Message | str:
        """Format-specific correction/extra check of a parsed message."""
        return msg

    def frame_like(self, line: str) -> bool:
        """Whether a line python-can choked on was at least meant as a frame (readers
        that parse every line say which ones could be)."""
        return True

    def header_error(self, lineno: int | None, reason: str) -> LogError:
        return LogError(self.path, lineno, reason)


_CANDUMP_FRAME_LIKE = re.compile(r"\s*\(\s*[\d.]+\)")  # a record begins with its timestamp


class _Candump(_TextFormat):
    """candump -L: ``(1.5) can0 123#1122``; python-can skips only blank lines."""

    name = "log"
    title = "candump"
    reader_cls = CanutilsLogReader
    fix_ext = True
    dlc_hint = " (odd number of hex digits?)"

    def frame_like(self, line: str) -> bool:
        return _CANDUMP_FRAME_LIKE.match(line) is not None

    def fix(self, msg: can.Message, line: str) -> can.Message | str:
        # python-can masks the raw id with 0x1FFFFFFF and only recognises error
        # frames of class CAN_ERR_BUSERROR; any other id with CAN_ERR_FLAG
        # (0x20000000) would come out as a bogus extended data frame.
        if not (msg.is_extended_id or msg.is_error_frame):
            return msg
        h = line.find("#")
        s = line.rfind(" ", 0, h)
        raw_id = line[s + 1 : h]
        if not msg.is_error_frame and (
            len(raw_id) < 8 or (len(raw_id) == 8 and raw_id[0] in "01")
        ):
            return msg  # the common case: a plain 29-bit id
        raw = int(raw_id, 16)
        if raw <= 0x1FFFFFFF and not msg.is_error_frame:
            return msg
        if 0x20000000 <= raw <= 0x3FFFFFFF:
            # error frame: keep the error class bits as can_id, and the channel
            # (python-can drops both for error frames)
            chan: str | int = line.split()[1]
            if chan.isdigit():
                chan = int(chan)
            return can.Message(
                timestamp=msg.timestamp,
                arbitration_id=raw & 0x1FFFFFFF,
                is_extended_id=True,
                is_error_frame=True,
                channel=chan,
            )
        return f"id 0x{raw:X} does not fit in 29 bits"



_CSV_HEADER = "timestamp,arbitration_id,extended,remote,error,dlc,data"


class _Csv(_TextFormat):
    """python-can's CSV (CSVWriter layout); python-can skips the first line blindly."""

    name = "csv"
    title = "CSV"
    reader_cls = CSVReader

    def prescan(self, it: Iterator[str], stats: LogStats) -> tuple[str | None, int]:
        n = 0
        for line in it:
            n += 1
            s = line.strip()
            if not s:
                stats._ignore("csv:blank")
                continue
            if s.replace(" ", "").lower() == _CSV_HEADER:
                stats._ignore("csv:header")
                self.replay = [line]
                return next(it, None), n
            try:
                float(s.split(",", 1)[0])
            except ValueError:
                raise self.header_error(
                    n,
                    f"unsupported CSV header {_quote(line)}; python-can reads "
                    f"columns {_CSV_HEADER}",
                ) from None
            # no header row: python-can would silently eat this first record,
            # so give it a header of its own
            self.replay = [_CSV_HEADER + "\n"]
            return line, n - 1
        return None, n


_ASC_DATE = re.compile(r"date\s+\w+\s+(?P<datetime_string>.+)", re.I)
_ASC_BASE = re.compile(
    r"base\s+(?P<base>hex|dec)(?:\s+timestamps\s+(?P<timestamp_format>absolute|relative))?",
    re.I,
)
_ASC_EVENTS = re.compile(r"(?P<no_events>no)?\s*internal\s+events\s+logged", re.I)
_ASC_TRIGGER = re.compile(r"(?:begin|end)\s+triggerblock\b", re.I)
_ASC_START = re.compile(r"\d+\.\d+\s+Start of measurement")
# a record that looks like a CAN frame: timestamp, channel number, hex id; or a
# channel, hex id and direction after a garbled timestamp; or any CANFD record
_ASC_FRAME_LIKE = re.compile(
    rf"(?:{_TS}\s+\d+\s+[0-9a-f]+x?(?:\s|$)"
    r"|\S+\s+\d+\s+[0-9a-f]+x?\s+[rt]x\b"
    r"|\S+\s+canfd\b)",
    re.I,
)
_ASC_TRIGGER_BEGIN = re.compile(r"begin\s+triggerblock\s+\w+\s+(.+)", re.I)
_ASC_STAT = re.compile(rf"{_TS}\s+\d+\s+statistic:", re.I)
_ASC_CHIP = re.compile(rf"{_TS}\s+can\s+\d+\s+status:", re.I)
_ASC_J1939 = re.compile(rf"{_TS}\s+j1939", re.I)
# any other timestamped event (log triggers, system variables, other buses): plain text only,
# so a line of binary garbage that happens to start with a digit is not taken for one
_ASC_EVENT = re.compile(rf"{_TS}\s+[\x21-\x7e][\x20-\x7e]*\Z")


class _Asc(_TextFormat):
    """Vector ASC. python-can's ASCReader skips every line it does not recognise
    (comments, statistics, chip status, J1939TP, triggerblock markers, garbled
    frames...) and also swallows the first line after the header."""

    name = "asc"
    title = "ASC"
    reader_cls = ASCReader
    fix_fd = True
    comment = "//"

    def __init__(self, path: Path, *args: Any, **kw: Any) -> None:
        super().__init__(path, *args, **kw)
        self.base = 16
        self.epoch_offset = None  # until a date line says when the measurement started
        self.trigger_seen = False

    def prescan(self, it: Iterator[str], stats: LogStats) -> tuple[str | None, int]:
        # Mirror ASCReader._extract_header: date/base/comment lines continue,
        # "internal events logged" ends the header, anything else ends it too
        # -- and python-can throws that line away. Here it stays in the body.
        n = 0
        ended = False
        first: str | None = None
        for line in it:
            s = line.strip()
            if date := _ASC_DATE.match(s):
                stats._ignore("asc:header")
                try:  # python-can's own reading of the date (local time)
                    self.epoch_offset = ASCReader._datetime_to_timestamp(date.group("datetime_string"))
                except (ValueError, OverflowError, OSError):
                    self.epoch_offset = None
            elif m := _ASC_BASE.match(s):
                base = m.group("base")
                if base not in ("hex", "dec"):
                    raise self.header_error(
                        n + 1,
                        f"python-can's ASC reader needs lowercase 'hex' or 'dec': {_quote(line)}",
                    )
                self.base = 16 if base == "hex" else 10
                stats._ignore("asc:header")
            elif s.startswith("//"):
                stats._ignore("asc:comment")
            elif _ASC_EVENTS.match(s):
                stats._ignore("asc:header")
                ended = True
            else:
                first = line
                break
            n += 1
            self.replay.append(line)
            if ended:
                first = next(it, None)
                break
        if not ended:
            # a line for python-can's header parser to end on and discard
            self.replay.append("\n")
        return first, n

    def classify_record(self, s: str, line: str) -> tuple[str | None, str | None]:
        if _ASC_TRIGGER.match(s):
            begin = _ASC_TRIGGER_BEGIN.match(s)
            if begin and not self.trigger_seen and self.stats is not None:
                # python-can counts ASC times from the (first) triggerblock's date
                self.trigger_seen = True
                try:
                    self.stats.epoch_offset = ASCReader._datetime_to_timestamp(begin.group(1))
                except (ValueError, OverflowError, OSError):
                    pass
            return "asc:triggerblock", None
        if _ASC_START.match(s):
            return "asc:start-of-measurement", None
        if _ASC_DATE.match(s) or _ASC_BASE.match(s) or _ASC_EVENTS.match(s):
            return "asc:header", None
        if _ASC_FRAME_LIKE.match(s):
            return None, f"{_ASC_UNPARSED}: {_quote(line)}"
        if _ASC_STAT.match(s):
            return "asc:statistic", None
        if _ASC_CHIP.match(s):
            return "asc:chip-status", None
        if _ASC_J1939.match(s):
            return "asc:j1939", None
        if _ASC_EVENT.match(s):
            return "asc:event", None
        return None, f"not an ASC record python-can reads (skipped by it without a word): {_quote(line)}"

    def fix(self, msg: can.Message, line: str) -> can.Message | str:
        # python-can only logs a warning when a CAN FD record's DLC code and
        # data length disagree, then trusts the data length; a record with data
        # length 0 it reads as a remote frame, whatever its DLC code. Read the same
        # way here, each such record an oddity.
        if msg.is_error_frame:
            return msg
        tok = line.split()
        i = 5 if tok[5].isdigit() else 6  # optional symbolic name after the id
        dlc = int(tok[i + 2], self.base)
        length = int(tok[i + 3])
        if not 0 <= dlc <= 15:
            return f"CAN FD dlc {tok[i + 2]} is no DLC code (0..15)"
        if _DLC2LEN[dlc] != length:
            if length == 0 and msg.is_remote_frame:
                self.oddity = (f"CAN FD record with DLC code {dlc} and data length 0: read as a remote "
                               "frame, as python-can reads it")
                return msg
            self.oddity = (f"CAN FD dlc {tok[i + 2]} disagrees with data length {length}: the "
                           f"{length} data bytes read, as python-can reads them")
            return msg
        if msg.is_remote_frame:
            # python-can reads a CAN FD record with data length 0 as a remote
            # frame; CAN FD has no remote frames, it is an empty data frame
            msg.is_remote_frame = False
            msg.data = bytearray()
            msg.dlc = 0
        return msg


_TRC_VERSIONS = {"1.0", "1.1", "1.3", "2.0", "2.1"}
_TRC_FRAME_TYPES_V2 = {"DT", "FD", "FB", "FE", "BI", "RR"}
_TRC_KIND = {
    "ER": "error-frame",
    "ERROR": "error-frame",
    "ST": "status",
    "EC": "error-counter",
    "EV": "event",
    "WARNG": "warning",
}


# every TRC version starts a record with its number (")" in 1.x) and the time offset
_TRC_FRAME_LIKE = re.compile(r"\s*\d+\)?\s+\d+(?:\.\d*)?\s")


class _Trc(_TextFormat):
    """PEAK TRC. python-can's TRCReader skips comment lines, non-frame record
    types (status, error frames, events...) and -- via a caught IndexError --
    frame records with too few fields."""

    name = "trc"
    title = "TRC"
    reader_cls = TRCReader
    comment = ";"

    def __init__(self, path: Path, *args: Any, **kw: Any) -> None:
        super().__init__(path, *args, **kw)
        self.version = "1.0"
        self.columns: list[str] = []

    def frame_like(self, line: str) -> bool:
        return _TRC_FRAME_LIKE.match(line) is not None

    def prescan(self, it: Iterator[str], stats: LogStats) -> tuple[str | None, int]:
        n = 0
        first: str | None = None
        version_line = None
        for line in it:
            s = line.strip()
            if not s.startswith(";"):
                first = line
                break
            n += 1
            self.replay.append(line)
            if s.startswith(";$"):
                stats._ignore("trc:header")
                key, _, value = s.partition("=")
                value = value.strip()
                if key == ";$FILEVERSION":
                    if value not in _TRC_VERSIONS:
                        raise self.header_error(
                            n,
                            f"TRC file version {value!r} is not read by python-can "
                            f"(reads {', '.join(sorted(_TRC_VERSIONS))}): {_quote(line)}",
                        )
                    self.version, version_line = value, n
                elif key == ";$STARTTIME":
                    try:
                        float(value)
                    except ValueError:
                        raise self.header_error(n, f"bad start time {_quote(line)}") from None
                elif key == ";$COLUMNS":
                    self.columns = value.split(",")
            else:
                stats._ignore("trc:comment")
        if self.version.startswith("2"):
            missing = [c for c in "OTIdD" if c not in self.columns]
            if "l" not in self.columns and "L" not in self.columns:
                missing.append("l or L")
            if missing:
                raise self.header_error(
                    version_line,
                    f"TRC {self.version} header lacks $COLUMNS entries: {', '.join(missing)}",
                )
            # python-can stores len2dlc(length) (a DLC code) in msg.dlc for 2.x
            self.fd_dlc_is_code = True
        return first, n

    def classify_record(self, s: str, line: str) -> tuple[str | None, str | None]:
        cols = s.split()
        v = self.version
        typ: str | None
        if v == "1.0":
            if len(cols) > 2 and cols[2] == "FFFFFFFF":
                return "trc:bus-info", None
            typ = None
        else:
            if v == "1.1":
                pos = 2
            elif v == "1.3":
                pos = 3
            else:
                pos = self.columns.index("T")
            typ = cols[pos] if len(cols) > pos else None
            if typ is not None and typ not in ("Tx", "Rx") and typ not in _TRC_FRAME_TYPES_V2:
                kind = _TRC_KIND.get(typ.upper())
                if kind is None:
                    return None, (f"record type {typ!r} is not one PEAK defines (skipped by python-can "
                                  f"without a word): {_quote(line)}")
                return f"trc:{kind}", None
        return None, f"{_TRC_UNPARSED}: {_quote(line)}"


_TEXT_FORMATS: dict[str, type[_TextFormat]] = {
    ".log": _Candump,
    ".asc": _Asc,
    ".trc": _Trc,
    ".csv": _Csv,
}


def _feed(
    prefix: list[str], first: str, it: Iterator[str], push: Callable[[str], None]
) -> Iterator[str]:
    """The 'file' a python-can reader iterates: replayed header lines (not
    tracked), then real lines, each recorded with push before it is handed out."""
    yield from prefix
    push(first)
    yield first
    for line in it:
        push(line)
        yield line


def _read_text(fmt: _TextFormat, skip_bad: bool, stats: LogStats) -> Iterator[Frame]:
    path = fmt.path
    prefix = f"{path}:"
    bad_records = stats.bad_records
    ignore = stats._ignore
    fix_ext = fmt.fix_ext
    candump = isinstance(fmt, _Candump)
    new = _new
    fix_fd = fmt.fix_fd
    fd_code = fmt.fd_dlc_is_code
    dlc_hint = fmt.dlc_hint
    asc = isinstance(fmt, _Asc)

    # the first line that is no record of this format at all (python-can skipped it or
    # choked on it), and how many records python-can did parse into a (bad) frame
    unrecognised: list[tuple[int, str]] = []
    parsed_bad = 0

    def bad(lineno: int, reason: str, parsed: bool = False) -> None:
        nonlocal parsed_bad
        if not skip_bad:
            raise LogError(path, lineno, reason)
        if parsed:
            parsed_bad += 1
        elif not unrecognised:
            unrecognised.append((lineno, reason))
        bad_records.append((f"{prefix}{lineno}", reason))

    def skipped(lines: list[str], lineno: int) -> int:
        # lines python-can consumed without yielding anything
        for line in lines:
            lineno += 1
            kind, reason = fmt.classify(line)
            if kind is not None:
                ignore(kind)
            else:
                reason = reason or "unparsed record"
                bad(lineno, reason, reason.startswith((_ASC_UNPARSED, _TRC_UNPARSED)) and fmt.frame_like(line))
        return lineno

    try:
        if fmt.compressed:
            fh = gzip.open(path, "rt", encoding="utf-8", errors="replace", newline=None)
        else:
            fh = open(path, encoding="utf-8", errors="replace", newline=None)
    except OSError as exc:
        raise LogError(path, None, f"cannot open: {exc.strerror or exc}") from None
    frames_before = stats.frames
    strict = fmt.strict
    fmt.stats = stats
    with fh, _python_can_messages(stats):
        it = _gz_text_lines(path, fh) if fmt.compressed else iter(fh)
        try:
            first, lineno = fmt.prescan(it, stats)
        except _CutGzip as exc:
            raise LogError(path, None, str(exc)) from None
        stats.epoch_offset = fmt.epoch_offset
        fd_code = fmt.fd_dlc_is_code  # prescan may set it
        buf: list[str] = []
        push = buf.append
        while first is not None:
            reader = fmt.reader_cls(_feed(fmt.replay, first, it, push))
            nxt = iter(reader).__next__
            while True:
                try:
                    msg = nxt()
                except StopIteration:
                    lineno = skipped(buf, lineno)
                    buf.clear()
                    first = None
                    break
                except _CutGzip as exc:
                    lineno = skipped(buf[:-1] if buf else buf, lineno)
                    stats.truncated = f"{exc} after line {lineno:,}"
                    if not (skip_bad or fmt.accept_truncated):
                        raise LogError(path, None, f"{stats.truncated}; the frames after it are lost",
                                       truncated=True) from None
                    return
                except Exception as exc:  # python-can choked on a line
                    if not buf:
                        raise LogError(
                            path, None, f"python-can reader failed on the header: {_describe(exc)}"
                        ) from exc
                    lineno = skipped(buf[:-1], lineno)
                    line = buf[-1]
                    lineno += 1
                    buf.clear()
                    if line.strip():
                        bad(lineno, f"cannot parse ({_describe(exc)}): {_quote(line)}", fmt.frame_like(line))
                    else:
                        ignore(f"{fmt.name}:blank")
                    # resume with a fresh reader after that line
                    first = next(it, None)
                    break
                n = len(buf)
                if n != 1:
                    if n == 0:
                        raise LogError(path, None, "python-can produced a frame from header lines")
                    lineno = skipped(buf[:-1], lineno)
                line = buf[-1]
                lineno += 1
                buf.clear()
                ext = msg.is_extended_id
                fd = msg.is_fd
                if (fix_ext and ext) or (fix_fd and fd) or msg.is_error_frame:
                    if not (
                        # candump: a plain 8-digit id below 0x20000000
                        # needs no fix (inlined for speed)
                        candump
                        and ext
                        and not msg.is_error_frame
                        and line[(h := line.find("#")) - 9] == " "
                        and line[h - 8] in "01"
                    ):
                        try:
                            fixed = fmt.fix(msg, line)
                        except (ValueError, IndexError) as exc:
                            fixed = f"cannot parse ({_describe(exc)})"
                        if type(fixed) is str:
                            bad(lineno, f"{fixed}: {_quote(line)}", True)
                            continue
                        if fmt.oddity is not None:
                            if strict:
                                bad(lineno, f"{fmt.oddity} (refused with strict): {_quote(line)}", True)
                                fmt.oddity = None
                                continue
                            stats._odd(f"{prefix}{lineno}", f"{fmt.oddity}: {_quote(line)}")
                            fmt.oddity = None
                        msg = fixed
                        ext = msg.is_extended_id
                        fd = msg.is_fd
                if msg.is_error_frame or msg.is_remote_frame:
                    res = _check_msg(msg, fd_code)
                    if type(res) is str:
                        bad(lineno, f"{res}: {_quote(line)}", True)
                        continue
                    kind, data = res
                else:
                    # inlined _check_msg fast path for a plain data frame
                    data = bytes(msg.data)
                    n = len(data)
                    aid = msg.arbitration_id
                    t = msg.timestamp
                    if not (
                        n == msg.dlc
                        and (n in _FD_LENGTHS if fd else n <= 8)
                        and 0 <= aid <= (0x1FFFFFFF if ext else 0x7FF)
                        and t - t == 0.0
                    ):
                        if asc and not fd and n == 8 and msg.dlc in _DLC2LEN[9:]:
                            # classic CAN: DLC codes 9..15 mean 8 bytes; python-can reads
                            # the code as an FD length and the 8 bytes that are there
                            code = _DLC2LEN.index(msg.dlc)
                            odd = f"classic CAN frame with DLC code {code} (above 8): its 8 data bytes read"
                            if strict:
                                bad(lineno, f"{odd} (refused with strict): {_quote(line)}", True)
                                continue
                            stats._odd(f"{prefix}{lineno}", f"{odd}: {_quote(line)}")
                            msg.dlc = 8
                        res = _check_msg(msg, fd_code)
                        if type(res) is str:
                            if res.startswith("dlc"):
                                res += dlc_hint
                            bad(lineno, f"{res}: {_quote(line)}", True)
                            continue
                    kind = "data"
                stats.frames += 1
                # inlined _make_frame
                f = new(_FrameBuilder)
                f.t = msg.timestamp
                f.can_id = msg.arbitration_id
                f.ext = ext
                f.data = data
                f.kind = kind
                f.is_fd = fd
                f.channel = msg.channel
                f.where = f"{prefix}{lineno}"
                f.__class__ = Frame
                yield f
    if unrecognised and stats.frames == frames_before and not parsed_bad:
        # --skip-bad or not, a file in which not one line reads as a frame is not this
        # kind of log at all (random bytes named .asc)
        line, reason = unrecognised[0]
        raise LogError(path, line, f"no {fmt.title} frame in the file, {len(bad_records):,} bad records "
                                   f"(this is the first: {reason}); is the file really in {fmt.title} format?")


# --------------------------------------------------------------------------
# BLF

# python-can reads each top-level object (log container) whole and inflates it
# with no output limit. Real containers hold ~128 KiB; refuse objects whose size
# field claims more than this (a corrupt size would otherwise make python-can
# allocate up to 4 GiB). The zlib output itself is still unbounded: a crafted
# container of this size could inflate to ~1000x; not guarded against here.
MAX_BLF_OBJECT = 64 * 1024 * 1024
_LOG_CONTAINER = 10


class _BLFGuard(Exception):
    pass


class _GuardedFile:
    """Binary file wrapper handed to BLFReader: caps object sizes, notices short
    reads (truncation) and containers python-can would skip (unknown compression)."""

    def __init__(self, f: Any) -> None:
        self._f = f
        self.short: str | None = None
        self._pending_type = -1

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > MAX_BLF_OBJECT:
            raise _BLFGuard(
                f"object size field gives {n} bytes to read at offset {self._f.tell()}"
                " (corrupt file?)"
            )
        pos = self._f.tell()
        b = self._f.read(n)
        pending, self._pending_type = self._pending_type, -1
        # a 0-byte read where an object header would start is the normal end
        eof_ok = not b and n == 16 and pending == -1
        if len(b) < n and not eof_ok and self.short is None:
            self.short = (f"file truncated at byte {pos + len(b):,}: an object needed {n:,} bytes "
                          f"from byte {pos:,}")
        if n == 16 and b[:4] == b"LOBJ":
            self._pending_type = int.from_bytes(b[12:16], "little")
        elif pending == _LOG_CONTAINER and len(b) >= 2:
            method = int.from_bytes(b[:2], "little")
            if method not in (0, 2):
                # python-can would skip the container and go on, but objects
                # span containers, so what follows would be misparsed
                raise _BLFGuard(
                    f"log container at offset {pos - 16} uses unknown compression "
                    f"method {method}"
                )
        return b

    def tell(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        pass  # the real file is closed by _read_blf


def _end(fh: Any) -> int:
    """Size of a (maybe gzip) binary file, read to the end if need be; where a cut or
    corrupt compressed stream ends."""
    try:
        return int(fh.seek(0, 2))
    except Exception:
        try:
            while fh.read(1 << 20):
                pass
        except Exception:
            pass
        try:
            return int(fh.tell())
        except Exception:
            return 0


def _read_blf(path: Path, skip_bad: bool, stats: LogStats, accept_truncated: bool,
              compressed: bool = False) -> Iterator[Frame]:
    bad_records = stats.bad_records
    prefix = f"{path}#"
    try:
        fh = gzip.open(path, "rb") if compressed else open(path, "rb")
    except OSError as exc:
        raise LogError(path, None, f"cannot open: {exc.strerror or exc}") from None
    with fh, _python_can_messages(stats):
        guard = _GuardedFile(fh)
        try:
            reader = BLFReader(guard)
        except Exception as exc:
            raise LogError(path, None, f"not a readable BLF file: {_describe(exc)}") from exc
        index = 0  # frames python-can produced so far

        def bad(idx: int, reason: str) -> None:
            if not skip_bad:
                raise LogError(path, None, reason, index=idx)
            bad_records.append((f"{prefix}{idx}", reason))

        def cut(what: str) -> None:
            # BLF cannot resync: nothing after this point can be read. Say what is known
            # of what is lost (the header's counts) rather than count it as one bad record.
            size = _end(fh)
            text = f"{what}; {index:,} frames read before it (the last: #{index})"
            if reader.object_count > index:
                text += (f"; the header lists {reader.object_count:,} objects, so up to "
                         f"{reader.object_count - index:,} frames or other objects after it are lost")
            elif not reader.object_count:
                text += "; the header does not say how many objects the file held"
            if reader.file_size > size:
                text += f"; the header gives {reader.file_size:,} bytes, the file has {size:,}"
            stats.truncated = text
            if not (skip_bad or accept_truncated):
                raise LogError(path, None, f"{text}; BLF cannot resync, reading stops here",
                               index=index + 1, truncated=True)

        nxt = iter(reader).__next__
        while True:
            try:
                msg = nxt()
            except StopIteration:
                break
            except Exception as exc:
                what = guard.short or (
                    f"unreadable from byte {guard.tell():,}: "
                    + (str(exc) if isinstance(exc, _BLFGuard) else _describe(exc))
                )
                cut(what)
                return
            index += 1
            res = _check_msg(msg, False)
            if type(res) is str:
                bad(index, res)
                continue
            stats.frames += 1
            yield _make_frame(
                msg.timestamp,
                msg.arbitration_id,
                msg.is_extended_id,
                res[1],
                res[0],
                msg.is_fd,
                msg.channel,
                f"{prefix}{index}",
            )
        # python-can keeps an incomplete trailing object in _tail and ends quietly
        if guard.short is None and b"LOBJ" in getattr(reader, "_tail", b""):
            guard.short = f"file ends inside an object (at byte {_end(fh):,})"
        size = _end(fh)
        if guard.short is None and reader.file_size > size:
            guard.short = f"file truncated at byte {size:,}"
        if guard.short is not None:
            cut(guard.short)
            return
        others = reader.object_count - index
        if others > 0:
            stats._ignore("blf:other-object", others)


# --------------------------------------------------------------------------
# .mf4 (python-can's reader on asammdf) and .db (python-can's SQLite log): records
# numbered from 1 as in BLF


def _generic_reader(path: Path, suffix: str) -> Any:
    if suffix == ".mf4":
        try:
            from can.io.mf4 import MF4Reader
            import asammdf  # noqa: F401  python-can's MF4 reader needs it
        except ImportError:
            raise LogError(path, None, "reading .mf4 needs asammdf (pip install asammdf)") from None
        return MF4Reader(str(path))
    from can.io.sqlite import SqliteReader

    return SqliteReader(str(path))


def _read_generic(path: Path, suffix: str, skip_bad: bool, stats: LogStats,
                  strict: bool = False) -> Iterator[Frame]:
    prefix = f"{path}#"
    with _python_can_messages(stats):
        try:
            reader = _generic_reader(path, suffix)
            it = iter(reader)
        except LogError:
            raise
        except Exception as exc:
            raise LogError(path, None, f"not a readable {suffix} log: {_describe(exc)}") from None
        index = 0
        try:
            while True:
                try:
                    msg = next(it)
                except StopIteration:
                    break
                except Exception as exc:
                    raise LogError(path, None, f"python-can stopped reading after {index:,} records: "
                                               f"{_describe(exc)}", index=index + 1) from None
                index += 1
                if not msg.is_fd and len(msg.data) > 8 and len(msg.data) in _FD_LENGTHS and msg.dlc == len(msg.data):
                    # python-can's SQLite log keeps no CAN FD flag
                    odd = f"{len(msg.data)} data bytes with no CAN FD flag: read as a CAN FD frame"
                    if strict:
                        res: tuple[str, bytes] | str = f"{odd} (refused with strict)"
                    else:
                        stats._odd(f"{prefix}{index}", odd)
                        msg.is_fd = True
                        res = _check_msg(msg, True)
                else:
                    res = _check_msg(msg, True)
                if type(res) is str:
                    if not skip_bad:
                        raise LogError(path, None, res, index=index)
                    stats.bad_records.append((f"{prefix}{index}", res))
                    continue
                stats.frames += 1
                yield _make_frame(msg.timestamp, msg.arbitration_id, msg.is_extended_id, res[1], res[0],
                                  msg.is_fd, msg.channel, f"{prefix}{index}")
        finally:
            with contextlib.suppress(Exception):
                reader.stop()
    if index and not stats.frames and not stats.bad_records:
        raise LogError(path, None, f"no CAN frame in the file ({index:,} records)")


# --------------------------------------------------------------------------
# candump's screen formats (``vcan0  0C8   [8]  F0 00 ...``, with ``(seconds)`` from -tz/-td
# or ``(2024-01-15 10:20:30.123456)`` from -ta, or no time), recognised by cantools' log
# reader patterns. python-can reads none of them.

try:
    from cantools.logreader import (
        CandumpAbsoluteLogPattern,
        CandumpDefaultPattern,
        CandumpTimestampedPattern,
    )

    _SCREEN_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
        ("relative", CandumpTimestampedPattern.pattern),
        ("absolute", CandumpAbsoluteLogPattern.pattern),
        ("none", CandumpDefaultPattern.pattern),
    )
except ImportError:  # pragma: no cover - cantools always has them
    _SCREEN_PATTERNS = ()
_SCREEN_LEN = re.compile(r"\s\[(\d+)\]")
_CAN_ERR_FLAG = 0x20000000


def _screen_kind(line: str) -> str | None:
    if "#" in line:
        return None  # candump -L
    for kind, pattern in _SCREEN_PATTERNS:
        if pattern.match(line.rstrip("\r\n")):
            return kind
    return None


def _sniff_candump_screen(path: Path, compressed: bool) -> str | None:
    """The screen format of a .log whose first record is one, else None (candump -L)."""
    try:
        with (gzip.open(path, "rt", encoding="utf-8", errors="replace") if compressed
              else open(path, encoding="utf-8", errors="replace")) as fh:
            for n, line in enumerate(fh):
                if line.strip():
                    return _screen_kind(line)
                if n > 1000:
                    return None
    except (OSError, EOFError, zlib.error):
        return None
    return None


def _read_candump_screen(path: Path, time_kind: str, compressed: bool, skip_bad: bool,
                         stats: LogStats, accept_truncated: bool) -> Iterator[Frame]:
    from datetime import datetime

    prefix = f"{path}:"
    patterns = dict(_SCREEN_PATTERNS)
    pattern = patterns[time_kind]
    stats.epoch_offset = 0.0 if time_kind == "absolute" else None
    if time_kind == "none":
        stats._ignore("log:no-timestamps (t = 0)")

    def bad(lineno: int, reason: str) -> None:
        if not skip_bad:
            raise LogError(path, lineno, reason)
        stats.bad_records.append((f"{prefix}{lineno}", reason))

    try:
        fh = (gzip.open(path, "rt", encoding="utf-8", errors="replace") if compressed
              else open(path, encoding="utf-8", errors="replace"))
    except OSError as exc:
        raise LogError(path, None, f"cannot open: {exc.strerror or exc}") from None
    lineno = 0
    with fh:
        it = _gz_text_lines(path, fh) if compressed else iter(fh)
        while True:
            try:
                line = next(it)
            except StopIteration:
                break
            except _CutGzip as exc:
                stats.truncated = f"{exc} after line {lineno:,}"
                if not (skip_bad or accept_truncated):
                    raise LogError(path, None, f"{stats.truncated}; the frames after it are lost",
                                   truncated=True) from None
                return
            lineno += 1
            text = line.rstrip("\r\n")
            if not text.strip():
                stats._ignore("log:blank")
                continue
            m = pattern.match(text)
            if m is None:
                other = _screen_kind(text)
                why = (f"a candump {other}-time record in a file of {time_kind}-time records" if other
                       else "not a candump record")
                bad(lineno, f"{why}: {_quote(text)}")
                continue
            g = m.groupdict()
            raw_id = g["can_id"]
            cid = int(raw_id, 16)
            length = _SCREEN_LEN.search(text)
            n = int(length.group(1)) if length else -1
            chan: str | int = g["channel"]
            if time_kind == "relative":
                t = float(g["timestamp"])
            elif time_kind == "absolute":
                try:  # local time, as candump -ta prints it
                    t = datetime.strptime(g["timestamp"], "%Y-%m-%d %H:%M:%S.%f").timestamp()
                except (ValueError, OverflowError, OSError) as exc:
                    bad(lineno, f"bad time ({_describe(exc)}): {_quote(text)}")
                    continue
            else:
                t = 0.0
            where = f"{prefix}{lineno}"
            if g.get("error_frame") or cid & _CAN_ERR_FLAG:
                if cid > 0x3FFFFFFF:
                    bad(lineno, f"id 0x{cid:X} does not fit in 29 bits: {_quote(text)}")
                    continue
                stats.frames += 1
                yield _make_frame(t, cid & 0x1FFFFFFF, True, b"", "error", False, chan, where)
                continue
            ext = len(raw_id) > 3
            if cid > (0x1FFFFFFF if ext else 0x7FF):
                bad(lineno, f"id 0x{cid:X} does not fit in {'29' if ext else '11'} bits: {_quote(text)}")
                continue
            payload = g["can_data"]
            if payload == "remote request":
                stats.frames += 1
                yield _make_frame(t, cid, ext, b"", "remote", False, chan, where)
                continue
            data = bytes.fromhex(payload)
            if len(data) != n:
                bad(lineno, f"[{n}] disagrees with {len(data)} data bytes: {_quote(text)}")
                continue
            fd = n > 8  # candump prints CAN FD lengths as [12].. [64]
            if fd and n not in _FD_LENGTHS:
                bad(lineno, f"CAN FD frame with {n} data bytes (not a valid CAN FD length): {_quote(text)}")
                continue
            stats.frames += 1
            yield _make_frame(t, cid, ext, data, "data", fd, chan, where)
    if lineno and not stats.frames and not stats.bad_records:
        raise LogError(path, None, "no candump frame in the file")


# --------------------------------------------------------------------------


def read_frames(
    path: str | Path,
    *,
    skip_bad: bool = False,
    stats: LogStats | None = None,
    accept_truncated: bool = False,
    strict: bool = False,
) -> Iterator[Frame]:
    """Iterate over the frames of a CAN log, choosing the format by extension
    (gzip-compressed when it ends .gz; a .log in candump's screen format by its first
    record).

    Raises LogError for an unknown extension or unreadable file (at once), and
    for a malformed record (when reached), unless skip_bad is set: then the
    record goes to stats.bad_records and reading continues after it. A text log
    with bad records and not one frame raises LogError even with skip_bad. A BLF
    that ends early (cut, or unreadable from some byte on: BLF cannot resync)
    raises LogError there unless skip_bad or accept_truncated: then reading stops
    and stats.truncated says where and what is lost. Non-frame records are counted
    in stats.ignored; python-can's warnings go to stats.library_messages. Records
    python-can reads leniently are read the same way and counted in stats.oddities,
    or are malformed records with strict.
    """
    p = Path(path)
    suffix, compressed = _log_kind(p)
    if not suffix:
        name = "".join(p.suffixes[-2:]) if compressed else p.suffix
        raise LogError(
            p, None, f"unknown log format {name or '(no extension)'!r}; "
            f"supported: {', '.join(_SUFFIXES)}, each but .mf4 and .db also gzip-compressed (.asc.gz)"
        )
    try:
        with open(p, "rb"):
            pass
    except OSError as exc:
        raise LogError(p, None, f"cannot open: {exc.strerror or exc}") from None
    if stats is None:
        stats = LogStats()
    if suffix == ".blf":
        return _read_blf(p, skip_bad, stats, accept_truncated, compressed)
    if suffix in (".mf4", ".db"):
        return _read_generic(p, suffix, skip_bad, stats, strict)
    if suffix == ".log" and (screen := _sniff_candump_screen(p, compressed)):
        return _read_candump_screen(p, screen, compressed, skip_bad, stats, accept_truncated)
    return _read_text(_TEXT_FORMATS[suffix](p, compressed, strict, accept_truncated), skip_bad, stats)
