"""Text from files and boards made safe to print: a log line, a DBC name, a board's LOG or a
library's warning may carry terminal escapes (clear screen, window title, colours)."""

from __future__ import annotations

__all__ = ["printable"]

# what str.isprintable() refuses: C0/C1 controls (ESC, BEL, CSI), format characters (bidi
# overrides that reorder what a terminal shows), line separators, lone surrogates, unassigned
_cache: dict[str, str] = {}


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: object, *, keep_newlines: bool = False) -> str:
    """str(text) with every control or format character written as a Python escape
    (ESC → \\x1b, U+202E → \\u202e) and backslashes left alone. keep_newlines keeps
    "\\n" (for multi-line messages of our own)."""
    s = text if isinstance(text, str) else str(text)
    if s.isprintable():  # the common case: nothing to do
        return s
    out = []
    for ch in s:
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            esc = _cache.get(ch)
            if esc is None:
                esc = _cache[ch] = _escape(ch)
            out.append(esc)
    return "".join(out)


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 frame', '2 frames', '1,144 frames' (many: the plural when it is not word + 's')."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
