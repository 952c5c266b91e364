"""Refuse Python that compiles for MicroPython 1.29 but does not work on the board.

mpy-cross already rejects what MicroPython cannot parse (match, positional-only
parameters, `{**d}`, `return 1, *rest`, parenthesised `with`, `except*`, `!a`): that is
tests/firmware/test_firmware_compiles.py. This scan finds what it lets through: imports of
modules the Pyboard does not have, and constructs MicroPython compiles and then ignores or
fails on at run time (each checked in the unix port, `micropython` 1.29). Every refusal
names file:line and the rule.

By hand: .venv/bin/python tests/firmware/static_checks/mp_only.py [files...]
(default: firmware/*.py).
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

# Modules of MicroPython 1.29 on a Pyboard (PYBV11 `help('modules')`: built-in plus the
# frozen asyncio), by their plain and u-prefixed names. test_firmware_mp_only.py checks
# that each one has a stub in micropython-stm32-stubs / micropython-stdlib-stubs.
BOARD_MODULES = frozenset({
    "array", "asyncio", "binascii", "builtins", "cmath", "collections", "deflate", "errno",
    "framebuf", "gc", "hashlib", "heapq", "io", "json", "machine", "math", "micropython", "os",
    "platform", "pyb", "random", "re", "select", "socket", "stm", "struct", "sys", "time",
    "uctypes", "vfs",
    "uarray", "uasyncio", "ubinascii", "ucollections", "uerrno", "uhashlib", "uheapq", "uio",
    "ujson", "umachine", "uos", "uplatform", "urandom", "ure", "uselect", "usocket", "ustruct",
    "usys", "utime",
})
# The unix port (the virtual board) only: firmware imports these inside code that runs there.
UNIX_PORT_MODULES = frozenset({"termios"})
# MicroPython's collections has only these (docs: library/collections.html).
COLLECTIONS_NAMES = frozenset({"deque", "namedtuple", "OrderedDict"})
# Builtins CPython has and MicroPython 1.29 lacks (hasattr(builtins, name) in the unix port).
MISSING_BUILTINS = frozenset({"aiter", "anext", "ascii", "breakpoint", "copyright", "credits", "exit",
                              "format", "license", "quit", "vars"})
# Methods of str/bytes/int/float/exceptions/array/memoryview that MicroPython 1.29 lacks (unix port, which
# has more than a Pyboard). Called as obj.name(...), they raise AttributeError on the board.
MISSING_METHODS = frozenset({
    "removeprefix", "removesuffix", "bit_count", "bit_length", "isidentifier", "add_note",
    "casefold", "expandtabs", "zfill", "format_map", "isascii", "isdecimal", "isnumeric",
    "isprintable", "istitle", "swapcase", "ljust", "rjust", "as_integer_ratio", "is_integer",
    "translate", "maketrans", "with_traceback", "conjugate", "capitalize", "isalnum", "tolist",
})
# Special methods MicroPython never calls on user classes, and class attributes it ignores.
IGNORED_DUNDERS = {
    "__del__": "MicroPython never calls __del__ on user classes (no finaliser): release resources explicitly",
    "__init_subclass__": "MicroPython never calls __init_subclass__",
    "__class_getitem__": "MicroPython never calls __class_getitem__: Cls[...] raises TypeError",
    "__format__": "MicroPython never calls __format__: f'{obj:spec}' raises ValueError",
}
GENERIC_BUILTINS = frozenset({"list", "dict", "tuple", "set", "frozenset", "type"})


@dataclass(frozen=True)
class Refusal:
    path: str
    line: int
    rule: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.why}"


class _Scan(ast.NodeVisitor):
    def __init__(self, path: str, local_modules: set[str], defined: set[str]):
        self.path = path
        self.local_modules = local_modules
        self.defined = defined
        self.refusals: list[Refusal] = []
        self._async_def: list[bool] = []

    def refuse(self, node: ast.AST, rule: str, why: str) -> None:
        self.refusals.append(Refusal(self.path, getattr(node, "lineno", 0), rule, why))

    def _module(self, node: ast.AST, name: str) -> None:
        top = name.split(".")[0]
        if top in self.local_modules or top in UNIX_PORT_MODULES:
            return
        if top not in BOARD_MODULES:
            self.refuse(node, "import", f"module {name!r} is not on a MicroPython 1.29 Pyboard")
        elif "." in name:
            self.refuse(node, "import", f"{name!r}: MicroPython's {top} has no submodules")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.refuse(node, "import", "relative import: firmware modules are flat files on the board")
            return
        self._module(node, node.module or "")
        if node.module in ("collections", "ucollections"):
            for alias in node.names:
                if alias.name not in COLLECTIONS_NAMES:
                    self.refuse(node, "import", f"MicroPython's collections has no {alias.name} "
                                                f"(only {', '.join(sorted(COLLECTIONS_NAMES))})")

    def visit_Match(self, node: ast.AST) -> None:
        self.refuse(node, "match", "match statements are not in MicroPython")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.refuse(node, "annotation", "variable annotation: firmware carries no type hints "
                                        "(MicroPython compiles them to nothing, CPython typing is not there)")
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for kw in node.keywords:
            self.refuse(node, "class-keyword", f"class {node.name}({kw.arg}=...): MicroPython's class "
                                               f"statement takes no keywords (metaclasses are not supported)")
        for item in node.body:
            targets = item.targets if isinstance(item, ast.Assign) else [getattr(item, "target", None)]
            if any(isinstance(t, ast.Name) and t.id == "__slots__" for t in targets):
                self.refuse(item, "slots", "__slots__ is ignored by MicroPython: it saves nothing "
                                           "and does not restrict attributes")
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in IGNORED_DUNDERS:
                self.refuse(item, "ignored-dunder", IGNORED_DUNDERS[item.name])
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._async_def.append(False)
        self.generic_visit(node)
        self._async_def.pop()

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._async_def.append(True)
        self.generic_visit(node)
        self._async_def.pop()

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._async_def.append(False)
        self.generic_visit(node)
        self._async_def.pop()

    def _yield(self, node: ast.AST) -> None:
        if self._async_def and self._async_def[-1]:
            self.refuse(node, "async-generator", "yield inside async def: MicroPython has no async "
                                                 "generators (`async for` over it raises AttributeError)")
        self.generic_visit(node)

    visit_Yield = visit_YieldFrom = _yield

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in MISSING_BUILTINS and func.id not in self.defined:
            self.refuse(node, "missing-builtin", f"builtin {func.id}() is not in MicroPython 1.29")
        if isinstance(func, ast.Attribute) and func.attr in MISSING_METHODS:
            self.refuse(node, "missing-method", f".{func.attr}() is a CPython method MicroPython 1.29 lacks")
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.value, ast.Name) and node.value.id in GENERIC_BUILTINS \
                and node.value.id not in self.defined:
            self.refuse(node, "generic-alias", f"{node.value.id}[...] raises TypeError in MicroPython "
                                               f"(builtin types are not subscriptable)")
        self.generic_visit(node)


def _defined_names(tree: ast.AST) -> set[str]:
    """Names the module binds itself (a local `format` is not the builtin)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def _fstring_refusals(path: str, source: str) -> list[Refusal]:
    """f-string rules need the tokens: the AST of f'{x=}' is the same as f'x={x!r}'."""
    refusals = []
    run: list[tokenize.TokenInfo] = []  # adjacent string literals (one implicit concatenation)
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for tok in list(tokens) + [None]:
        if tok is not None and tok.type == tokenize.STRING:
            run.append(tok)
            continue
        if tok is not None and tok.type in (tokenize.NL, tokenize.COMMENT) and run:
            continue  # a concatenation may span lines inside brackets
        fstrings = [t for t in run if _prefix(t.string) & {"f"}]
        for t in fstrings:
            if _has_debug_specifier(_body(t.string)):
                refusals.append(Refusal(path, t.start[0], "fstring-debug",
                                        "f-string '=' specifier (f'{x=}'): not allowed in firmware/ "
                                        "(project rule: CPython-only f-string features)"))
        if fstrings and len(run) > 1:
            plain = [t for t in run if "f" not in _prefix(t.string) and ("{" in t.string or "}" in t.string)]
            if plain:
                refusals.append(Refusal(path, plain[0].start[0], "fstring-concat",
                                        "f-string concatenated with a literal holding braces: "
                                        "MicroPython formats the braces too (IndexError at run time); join with +"))
        run = []
    return refusals


def _prefix(literal: str) -> set[str]:
    return set(literal[:len(literal) - len(literal.lstrip("rbfuRBFU"))].lower())


def _body(literal: str) -> str:
    literal = literal.lstrip("rbfuRBFU")
    quote = literal[:3] if literal[:3] in ('"""', "'''") else literal[0]
    return literal[len(quote):-len(quote)]


def _has_debug_specifier(body: str) -> bool:
    """True if a replacement field of this f-string body ends its expression with '='."""
    i, n = 0, len(body)
    while i < n:
        if body[i] == "{":
            if body[i + 1:i + 2] == "{":
                i += 2
                continue
            depth, j, quote = 0, i + 1, ""
            while j < n:
                c = body[j]
                if quote:
                    quote = "" if c == quote else quote
                elif c in "'\"":
                    quote = c
                elif c in "([{":
                    depth += 1
                elif c in ")]}" and depth:
                    depth -= 1
                elif depth == 0 and c in "}!:":
                    break
                elif depth == 0 and c == "=" and body[j + 1:j + 2] != "=" and body[j - 1] not in "=!<>":
                    rest = body[j + 1:].lstrip()
                    if rest[:1] in ("}", "!", ":"):
                        return True
                j += 1
            i = j
        i += 1
    return False


def scan_source(path: str, source: str, local_modules: set[str]) -> list[Refusal]:
    tree = ast.parse(source, filename=path)
    scan = _Scan(path, local_modules, _defined_names(tree))
    scan.visit(tree)
    return sorted(scan.refusals + _fstring_refusals(path, source), key=lambda r: (r.line, r.rule))


def scan_files(paths: list[Path], local_modules: set[str]) -> list[Refusal]:
    refusals = []
    for path in paths:
        refusals += scan_source(str(path), path.read_text(), local_modules)
    return refusals


def main(argv: list[str]) -> int:
    repo = Path(__file__).resolve().parents[3]
    paths = [Path(a) for a in argv] or sorted((repo / "firmware").glob("*.py"))
    local = {p.stem for p in (repo / "firmware").glob("*.py")} | {"dbc_decoder", "supervise_rules"}
    refusals = scan_files(paths, local)
    for r in refusals:
        print(r)
    return 1 if refusals else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
