"""Write the same small set of frames in every log format python-can writes (and gzip
copies of each), plus hand-written candump screen formats and Vector quirks.

    .venv/bin/python tests/files/logs/formats/make_format_logs.py

The files are committed; this script says how they were made (python-can's writers).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import can

HERE = Path(__file__).resolve().parent
T0 = 1_700_000_000.0


def messages() -> list[can.Message]:
    out = []
    for i in range(12):
        out.append(can.Message(timestamp=T0 + i * 0.01, arbitration_id=0x100 + i, is_extended_id=False,
                               data=bytes((i + k) & 0xFF for k in range(8)), channel=0))
    out.append(can.Message(timestamp=T0 + 0.2, arbitration_id=0x1ABCDEF0, is_extended_id=True,
                           data=b"\x01\x02\x03", channel=1))
    out.append(can.Message(timestamp=T0 + 0.3, arbitration_id=0x7FF, is_extended_id=False,
                           is_remote_frame=True, dlc=4, channel=0))
    out.append(can.Message(timestamp=T0 + 0.4, arbitration_id=0x456, is_extended_id=False, is_fd=True,
                           data=bytes(range(32)), channel=0))
    return out


def write(suffix: str) -> Path:
    path = HERE / f"frames{suffix}"
    path.unlink(missing_ok=True)
    with can.Logger(str(path)) as writer:
        for m in messages():
            if suffix in (".csv",) and m.is_fd:
                continue  # python-can's CSV has no FD flag
            writer.on_message_received(m)
    return path


def gz(path: Path) -> None:
    with open(path, "rb") as src, gzip.GzipFile(str(path) + ".gz", "wb", mtime=0) as dst:
        shutil.copyfileobj(src, dst)


SCREEN = {
    # candump can0
    "candump_screen.log": ["  can0  123   [4]  DE AD BE EF\n", "  can0  1ABCDEF0   [8]  01 02 03 04 05 06 07 08\n",
                           "  can0  7FF   [4]  remote request\n", "  can0  456  [12]  00 01 02 03 04 05 06 07 08 09 0A 0B\n"],
    # candump -tz / -td (seconds: since the start / since the previous frame)
    "candump_screen_tz.log": [" (000.000000)  vcan0  0C8   [8]  F0 00 00 00 00 00 00 00\n",
                              " (000.010012)  vcan0  0C8   [8]  F1 00 00 00 00 00 00 00   '........'\n",
                              " (000.020020)  vcan0  20000004   [8]  00 00 00 00 00 00 00 00   ERRORFRAME\n"],
    "candump_screen_td.log": [" (000.000000)  vcan0  0C8   [8]  F0 00 00 00 00 00 00 00\n",
                              " (000.010012)  vcan0  0C8   [8]  F1 00 00 00 00 00 00 00\n"],
    # candump -ta (local time)
    "candump_screen_ta.log": ["(2024-01-15 10:20:30.123456)  can0  123   [2]  11 22\n",
                              "(2024-01-15 10:20:30.133456)  can0  123   [2]  11 23\n"],
}

QUIRKS = {
    # a classic frame whose DLC code is above 8 carries 8 bytes (python-can reads them)
    "asc_classic_dlc_above_8.asc": [
        "date Mon Jan 15 10:20:30.123 am 2024\n", "base hex  timestamps absolute\n", "internal events logged\n",
        "Begin Triggerblock Mon Jan 15 10:20:30.123 am 2024\n",
        "   0.001000 1  123             Rx   d 8 01 02 03 04 05 06 07 08\n",
        "   0.002000 1  124             Rx   d D 01 02 03 04 05 06 07 08\n",
        "End TriggerBlock\n"],
    # a CAN FD record with data length 0 and DLC code 5: python-can reads a remote frame
    "asc_fd_remote.asc": [
        "date Mon Jan 15 10:20:30.123 am 2024\n", "base hex  timestamps absolute\n", "internal events logged\n",
        "Begin Triggerblock Mon Jan 15 10:20:30.123 am 2024\n",
        "   0.001000 CANFD   1 Rx      456                                   1 0 5 0        0    0     1000        0        0        0        0        0\n",
        "   0.002000 CANFD   1 Rx      457                                   1 0 8 8 00 01 02 03 04 05 06 07        0    0     1000        0        0        0        0        0\n",
        "End TriggerBlock\n"],
}


def main() -> None:
    for suffix in (".asc", ".blf", ".log", ".trc", ".csv", ".mf4", ".db"):
        path = write(suffix)
        if suffix not in (".mf4", ".db"):
            gz(path)
    for name, lines in {**SCREEN, **QUIRKS}.items():
        (HERE / name).write_text("".join(lines))
    gz(HERE / "candump_screen_tz.log")
    gz(HERE / "asc_fd_remote.asc")


if __name__ == "__main__":
    main()
