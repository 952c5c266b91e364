# Input for test_firmware_mp_only.py: every line marked `# refuse: RULE` must be refused
# with that rule, and no other line. Valid CPython 3.11; none of it belongs on the board.
import typing  # refuse: import
import os.path  # refuse: import
from dataclasses import dataclass  # refuse: import
from collections import deque, defaultdict  # refuse: import
from . import sibling  # refuse: import
import termios
import link
import time, micropython, gc, pyb, machine, binascii, struct
from array import array
from collections import OrderedDict

width: int = 4  # refuse: annotation
name = "x"
print(f"{name=}")  # refuse: fstring-debug
print(f"{name = }")  # refuse: fstring-debug
print(f"{name!r} {width:>{width}} {name == 'x'} {name}={width}")
print(f"{name}" "{}")  # refuse: fstring-concat
print("a" f"{name}")
print(format(width, "x"))  # refuse: missing-builtin
print(name.removeprefix("x"), width.bit_length())  # refuse: missing-method
sizes = list[int]  # refuse: generic-alias


class Meta(type):
    pass


class Tagged(metaclass=Meta):  # refuse: class-keyword
    __slots__ = ("a",)  # refuse: slots

    def __del__(self):  # refuse: ignored-dunder
        pass


async def frames():
    yield 1  # refuse: async-generator


async def fine():
    def inner():
        yield 2
    return inner


match width:  # refuse: match
    case 4:
        pass
