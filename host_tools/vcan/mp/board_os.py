# `os` for the virtual board (unix port): its os.ilistdir yields (name, type, inode) without
# the size a board's yields, so `mpremote ls` listed every file as 0 bytes. Importing this
# module installs it as `os`: the builtin's names, and ilistdir with sizes (0 for folders,
# as on a board's FAT).
import sys

from os import *  # noqa: F401,F403 (the builtin module's names)
import os as _os

_DIR = 0x4000


def ilistdir(path="."):
    prefix = "" if path in ("", ".") else path.rstrip("/") + "/"
    for entry in _os.ilistdir(path):
        if len(entry) >= 4:
            yield entry
            continue
        size = 0
        if entry[1] != _DIR:
            try:
                size = _os.stat(prefix + entry[0])[6]
            except OSError:
                pass
        yield (entry[0], entry[1], entry[2], size)


sys.modules["os"] = sys.modules[__name__]
