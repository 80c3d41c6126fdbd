"""Option coercion without pydantic for plain values, so ``myotrial tis`` starts quickly.

Typer (0.2x) coerces every option value through a pydantic ``TypeAdapter``, built the first time
a command parses its options: importing pydantic and building the adapters of ``tis`` (25
options) and of the root's ``--help`` would cost about as much as everything else ``tis`` does
(``benchmarks/bench_cli.py``). Values of plain options (floats, tuples of floats, enum choices,
flags) are coerced here exactly as those adapters coerce them: a number written as a plain
decimal (``float()`` and pydantic both round it correctly), a choice through typer's own
:func:`typer._param_types.coerce_cli_choice`. Anything else (a typo, ``1_000``, ``nan``, a
type not listed) goes to typer's own coercion, so values and error messages stay typer's
(``tests/test_cli_lazy.py`` compares both on many values). With a typer that lacks these
internals, commands simply use typer's coercion.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import TYPE_CHECKING, Any, get_args, get_origin

from typer import _click as click
from typer.core import TyperCommand, TyperGroup

try:
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_choice
except ImportError:  # pragma: no cover - a typer without pydantic coercion
    RuntimeParam = None  # type: ignore[assignment,misc]

__all__ = [
    "UNHANDLED",
    "PlainOptions",
    "PlainOptionsCommand",
    "PlainOptionsGroup",
    "plain_value",
    "use_plain_coercion",
]

#: A number that ``float()`` and pydantic read alike: ASCII digits, an optional sign, point and
#: exponent; no spaces, underscores, words (inf, nan) or other scripts' digits.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: Returned by :func:`plain_value` for a value left to typer.
UNHANDLED: Any = object()


def plain_value(annotation: Any, value: Any, case_sensitive: bool, ctx: Any) -> Any:
    """``value`` coerced to ``annotation`` as typer's adapter would, or :data:`UNHANDLED`."""
    if annotation is float:
        if type(value) is float:
            return value
        if type(value) is str and _DECIMAL.fullmatch(value):
            return float(value)
        return UNHANDLED
    if annotation is bool:
        return value if type(value) is bool else UNHANDLED
    if get_origin(annotation) is tuple:
        args = get_args(annotation)
        if not isinstance(value, list | tuple) or len(value) != len(args) or Ellipsis in args:
            return UNHANDLED
        items = [plain_value(a, v, case_sensitive, ctx) for a, v in zip(args, value, strict=True)]
        return UNHANDLED if any(i is UNHANDLED for i in items) else tuple(items)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        try:
            return coerce_cli_choice(
                value, choices=tuple(annotation), case_sensitive=case_sensitive, ctx=ctx
            )
        except ValueError:  # typer's adapter words the error
            return UNHANDLED
    return UNHANDLED


if RuntimeParam is not None:

    class _PlainRuntimeParam(RuntimeParam):
        """Typer's coercion of one parameter, without pydantic for plain values."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            case_sensitive = bool(getattr(self.parameter_info, "case_sensitive", True))
            plain = plain_value(self.annotation, value, case_sensitive, ctx)
            if plain is not UNHANDLED:
                return plain
            typer_own = build_runtime_param(param.type_descriptor)
            return typer_own._coerce_value(value, param=param, ctx=ctx)


def use_plain_coercion(params: list[click.Parameter]) -> None:
    """Give each typer parameter not coerced yet the plain coercion (no-op on another typer)."""
    if RuntimeParam is None:  # pragma: no cover
        return
    for param in params:
        desc = getattr(param, "type_descriptor", None)
        if (
            getattr(param, "_runtime_param", False) is None
            and desc is not None
            and desc.file_annotation is None
        ):
            param._runtime_param = _PlainRuntimeParam(  # type: ignore[attr-defined]
                parameter_info=desc.parameter_info, annotation=desc.annotation
            )


class PlainOptions:
    """Mixin for a typer command or group: its options coerced by :func:`plain_value` first."""

    if TYPE_CHECKING:  # the command's own (a stub here would override it)

        def get_params(self, ctx: click.Context) -> list[click.Parameter]: ...

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        use_plain_coercion(self.get_params(ctx))  # with the help option (cached by click)
        rest: list[str] = super().parse_args(ctx, args)  # type: ignore[misc]
        return rest


class PlainOptionsCommand(PlainOptions, TyperCommand):
    """A typer command with :class:`PlainOptions`."""


class PlainOptionsGroup(PlainOptions, TyperGroup):
    """A typer group with :class:`PlainOptions`."""
