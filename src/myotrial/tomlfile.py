"""One strict reader for every TOML file myotrial loads (rules, protocols, scenarios, designs).

A loader opens a file with :func:`read_toml` and reads every value through typed getters on
:class:`TomlTable`; when it is done it calls :meth:`TomlTable.finish`, which rejects every key
that no getter asked for — naming the file, the key path and, when one is close, the key that
was probably meant (``effect_scales`` -> "did you mean 'effect_scale'?"). A misspelt key in a
design file therefore stops the run instead of silently running at the default.

Free-text keys that only document a value (``citation``, ``note``, ``verbatim`` ...) must be
declared by the loader with :meth:`TomlTable.documentation`; they are kept, never interpreted.

Every error is a :class:`~myotrial.errors.RulesError` whose message starts with the file path.
"""

from __future__ import annotations

import builtins
import difflib
import math
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from myotrial.errors import RulesError

__all__ = ["MISSING", "TomlTable", "read_toml", "toml_from_text"]

T = TypeVar("T")


class _Missing:
    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "MISSING"


#: Sentinel for "no default": the key is required.
MISSING: Any = _Missing()

#: Keys that document a value in any table of any file (never interpreted).
DOCUMENTATION_KEYS = ("citation", "doi", "note", "notes", "source", "verbatim", "comment")


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def read_toml(path: str | Path, kind: str = "file") -> TomlTable:
    """Open and parse ``path``; every problem (missing, a directory, not UTF-8, not TOML) is a
    :class:`RulesError` naming the file and the ``kind`` of file expected."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise RulesError(f"{p}: {kind} not found") from exc
    except IsADirectoryError as exc:
        raise RulesError(f"{p}: is a directory, not a {kind}") from exc
    except UnicodeDecodeError as exc:
        raise RulesError(
            f"{p}: {kind} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc
    except OSError as exc:
        raise RulesError(f"{p}: cannot read {kind} ({exc.strerror})") from exc
    return toml_from_text(text, p, kind)


def toml_from_text(text: str, source: str | Path, kind: str = "file") -> TomlTable:
    """Parse TOML ``text`` that came from ``source`` (used in messages)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: not valid TOML ({exc})") from exc
    return TomlTable(data, Path(source), "")


class TomlTable:
    """A TOML table read strictly: typed getters, and :meth:`finish` rejects unread keys."""

    def __init__(self, data: dict[builtins.str, Any], source: Path, path: builtins.str) -> None:
        self.data = data
        self.source = source
        self.path = path
        self._used: set[builtins.str] = set()
        self._children: list[TomlTable] = []

    # -- locating -----------------------------------------------------------------------------

    def where(self, key: builtins.str | None = None) -> builtins.str:
        """``file: [table.path] key`` for messages."""
        table = f"[{self.path}]" if self.path else "(top level)"
        return f"{self.source}: {table}" + (f" {key}" if key is not None else "")

    def error(self, key: builtins.str | None, message: builtins.str) -> RulesError:
        sep = " " if message.startswith("=") else ": "
        return RulesError(f"{self.where(key)}{sep}{message}")

    def _sub(self, key: builtins.str) -> builtins.str:
        return f"{self.path}.{key}" if self.path else key

    # -- presence -----------------------------------------------------------------------------

    def __contains__(self, key: builtins.str) -> builtins.bool:
        return key in self.data

    def keys(self) -> builtins.list[builtins.str]:
        return list(self.data)

    def _take(self, key: builtins.str, default: Any) -> Any:
        self._used.add(key)
        if key not in self.data:
            if default is MISSING:
                message = f"missing required key {key!r}"
                unread = [k for k in self.data if k not in self._used]
                close = difflib.get_close_matches(key, unread, n=1, cutoff=0.6)
                if close:  # a misspelling: name the key found and the one meant
                    message = f"unknown key {close[0]!r}; did you mean {key!r}? ({message})"
                raise self.error(None, message)
            return default
        return self.data[key]

    def documentation(self, *keys: builtins.str) -> None:
        """Declare free-text keys of this table (kept, not interpreted)."""
        for key in keys:
            if key in self.data and not isinstance(self.data[key], str | list):
                raise self.error(key, f"must be text, got {_type_name(self.data[key])}")
            self._used.add(key)

    # -- scalars ------------------------------------------------------------------------------

    def raw(self, key: builtins.str, default: Any = MISSING) -> Any:
        """The value as parsed, unchecked (the caller validates it)."""
        return self._take(key, default)

    def str(
        self,
        key: builtins.str,
        default: Any = MISSING,
        *,
        choices: Iterable[builtins.str] | None = None,
    ) -> Any:
        value = self._take(key, default)
        if value is default and key not in self.data:
            return value
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, got {_type_name(value)} {value!r}")
        if choices is not None:
            options = tuple(choices)
            if value not in options:
                raise self.error(key, f"= {value!r}; valid: {', '.join(options)}")
        return value

    def bool(self, key: builtins.str, default: Any = MISSING) -> Any:
        value = self._take(key, default)
        if value is default and key not in self.data:
            return value
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {_type_name(value)} {value!r}")
        return value

    def int(
        self,
        key: builtins.str,
        default: Any = MISSING,
        *,
        min: builtins.int | None = None,
        max: builtins.int | None = None,
    ) -> Any:
        value = self._take(key, default)
        if value is default and key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer, got {_type_name(value)} {value!r}")
        self._check_range(key, value, min, max)
        return value

    def float(
        self,
        key: builtins.str,
        default: Any = MISSING,
        *,
        min: builtins.float | None = None,
        max: builtins.float | None = None,
        min_exclusive: builtins.bool = False,
        allow_infinite: builtins.bool = False,
    ) -> Any:
        value = self._take(key, default)
        if value is default and key not in self.data:
            return value
        return self._number(key, value, min, max, min_exclusive, allow_infinite)

    def _number(
        self,
        key: builtins.str,
        value: Any,
        min: builtins.float | None,
        max: builtins.float | None,
        min_exclusive: builtins.bool = False,
        allow_infinite: builtins.bool = False,
    ) -> builtins.float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number, got {_type_name(value)} {value!r}")
        number = float(value)
        if math.isnan(number) or (math.isinf(number) and not allow_infinite):
            raise self.error(key, f"must be a finite number, got {value!r}")
        if min_exclusive and min is not None and not number > min:
            raise self.error(key, f"= {value!r} must be > {min:g}")
        self._check_range(key, number, None if min_exclusive else min, max)
        return number

    def _check_range(
        self,
        key: builtins.str,
        value: builtins.float,
        lo: builtins.float | None,
        hi: builtins.float | None,
    ) -> None:
        if lo is not None and value < lo:
            raise self.error(key, f"= {value!r} must be >= {lo:g}")
        if hi is not None and value > hi:
            raise self.error(key, f"= {value!r} must be <= {hi:g}")

    # -- arrays -------------------------------------------------------------------------------

    def list(self, key: builtins.str, default: Any = MISSING) -> Any:
        value = self._take(key, default)
        if value is default and key not in self.data:
            return value
        if not isinstance(value, list):
            raise self.error(key, f"must be an array, got {_type_name(value)} {value!r}")
        return value

    def str_list(self, key: builtins.str, default: Any = MISSING) -> Any:
        value = self.list(key, default)
        if value is default and key not in self.data:
            return value
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{key}[{i}]", f"must be a string, got {item!r}")
        return tuple(value)

    def int_list(
        self,
        key: builtins.str,
        default: Any = MISSING,
        *,
        min: builtins.int | None = None,
        max: builtins.int | None = None,
    ) -> Any:
        value = self.list(key, default)
        if value is default and key not in self.data:
            return value
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int):
                raise self.error(f"{key}[{i}]", f"must be an integer, got {item!r}")
            self._check_range(f"{key}[{i}]", item, min, max)
        return tuple(value)

    def float_list(
        self,
        key: builtins.str,
        default: Any = MISSING,
        *,
        min: builtins.float | None = None,
        max: builtins.float | None = None,
    ) -> Any:
        value = self.list(key, default)
        if value is default and key not in self.data:
            return value
        return tuple(self._number(f"{key}[{i}]", item, min, max) for i, item in enumerate(value))

    # -- tables -------------------------------------------------------------------------------

    def table(self, key: builtins.str, default: Any = MISSING) -> Any:
        """A sub-table, read strictly (``default`` when absent, e.g. ``None``)."""
        value = self._take(key, default)
        if value is default and key not in self.data:
            return value
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table, got {_type_name(value)} {value!r}")
        child = TomlTable(value, self.source, self._sub(key))
        self._children.append(child)
        return child

    def optional_table(self, key: builtins.str) -> TomlTable:
        """A sub-table, or an empty one when absent."""
        child = self.table(key, None)
        if child is None:
            child = TomlTable({}, self.source, self._sub(key))
        return child  # type: ignore[no-any-return]

    def tables(self, key: builtins.str, default: Any = MISSING) -> Any:
        """An array of tables (``[[key]]``), each read strictly."""
        value = self._take(key, default)
        if value is default and key not in self.data:
            return value
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(key, "must be an array of tables ([[...]])")
        out = []
        for i, item in enumerate(value):
            child = TomlTable(item, self.source, f"{self._sub(key)}[{i}]")
            self._children.append(child)
            out.append(child)
        return out

    def items(self) -> Iterator[tuple[builtins.str, Any]]:
        """Every key of a free-form table (e.g. arms keyed by code); all count as read."""
        for key in list(self.data):
            self._used.add(key)
            yield key, self.data[key]

    def subtables(self) -> Iterator[tuple[builtins.str, TomlTable]]:
        """Every entry of a table of tables, each read strictly."""
        for key in list(self.data):
            yield key, self.table(key)

    # -- the check ----------------------------------------------------------------------------

    def unread(self) -> builtins.list[builtins.str]:
        return [k for k in self.data if k not in self._used]

    def finish(self, extra_documentation: Iterable[builtins.str] = ()) -> None:
        """Reject every key no getter read, here and in every sub-table read, with a
        "did you mean" suggestion. Documentation keys (citation, note, ...) are allowed."""
        allowed_docs = set(DOCUMENTATION_KEYS) | set(extra_documentation)
        for key in self.unread():
            if key in allowed_docs and isinstance(self.data[key], str | list):
                continue
            known = sorted(self._used | {k for k in allowed_docs if k in self.data})
            hint = difflib.get_close_matches(key, list(self._used), n=1, cutoff=0.6)
            message = f"unknown key {key!r}"
            if hint:
                message += f"; did you mean {hint[0]!r}?"
            elif known:
                message += f"; known keys here: {', '.join(known)}"
            raise self.error(None, message)
        for child in self._children:
            child.finish(extra_documentation)
