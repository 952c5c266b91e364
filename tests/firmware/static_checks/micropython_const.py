"""mypy plugin: a name bound by `NAME = const(3)` is a final int whose value mypy knows.

MicroPython's compiler substitutes a const() name by its value, so it behaves as
`NAME: Final = 3`. mypy sees only the stub's `def const(expr: T) -> T`, widens 3 to int,
and `RECORD[M_NAME]` becomes the union of every item type of a record tuple; with the
value known it picks the one item, as for RECORD[0]. Names assigned from a const name
(`state = _IDLE`) stay plain ints, and rebinding a const name is an error, as on the board."""

from __future__ import annotations

from mypy.nodes import AssignmentStmt, IntExpr, UnaryExpr, Var
from mypy.plugin import DynamicClassDefContext, FunctionContext, Plugin
from mypy.types import Instance, LiteralType, Type

_CONST = {"micropython.const", "builtins.const"}


def _int_value(expr) -> int | None:
    if isinstance(expr, IntExpr):
        return expr.value
    if isinstance(expr, UnaryExpr) and expr.op == "-" and isinstance(expr.expr, IntExpr):
        return -expr.expr.value
    return None


def _const_type(ctx: FunctionContext) -> Type:
    """const(3): int, remembered as Literal[3] (kept only by final names)."""
    returned = ctx.default_return_type
    if len(ctx.args) == 1 and len(ctx.args[0]) == 1 and isinstance(returned, Instance):
        value = _int_value(ctx.args[0][0])
        if value is not None and returned.type.fullname == "builtins.int":
            return returned.copy_modified(last_known_value=LiteralType(value, fallback=returned))
    return returned


def _mark_final(ctx: DynamicClassDefContext) -> None:
    """NAME = const(...): NAME is final, as `NAME: Final = ...` would make it."""
    statement = getattr(ctx.api, "statement", None)  # the assignment being analysed
    symbol = ctx.api.lookup_current_scope(ctx.name)
    if (isinstance(statement, AssignmentStmt) and statement.rvalue is ctx.call
            and symbol is not None and isinstance(symbol.node, Var)):
        statement.is_final_def = True
        symbol.node.is_final = True
        if len(ctx.call.args) == 1:
            symbol.node.final_value = _int_value(ctx.call.args[0])


class MicroPythonConst(Plugin):
    def get_function_hook(self, fullname: str):
        return _const_type if fullname in _CONST else None

    def get_dynamic_class_hook(self, fullname: str):
        return _mark_final if fullname in _CONST else None


def plugin(version: str):
    return MicroPythonConst
