"""Concealed stratified permuted-block randomisation.

Method: for each stratum (in the scheme's order) blocks are generated until the stratum holds at
least ``n_per_stratum`` slots; each block's size is drawn uniformly from ``block_sizes`` and the
block holds every arm exactly ``ratio part x block size / ratio sum`` times, in a random order
(random permutation). (Equivalent in design to SAS ``PROC PLAN`` / R ``blockrand`` with random
block sizes.)

Where the randomness comes from (allocation secrecy by construction, issue 12):

- **No seed (the default, the live trial):** every block size and permutation is drawn from the
  operating system's CSPRNG (:class:`secrets.SystemRandom`, ``os.urandom``). There is no seed to
  guess or brute-force and no generator state to recover from observed allocations: each draw
  carries fresh OS entropy. ``entropy_bits`` reports 256 (the CSPRNG's security level is far
  above the 128 bits required).
- **An explicit seed (validation only):** a ``numpy.random.Generator`` (PCG64) seeded with it,
  so the same seed and scheme give the same arms, blocks and block sizes (reproducible for a
  validation report). Anyone who knows or guesses the seed can rebuild the list:
  ``entropy_bits`` is the seed's bit length and a :class:`SeededListWarning` is issued. Only the
  command line (``myotrial randomize generate --seed``) passes a seed; the web application
  never does.
- **Kit codes** are always drawn from the OS CSPRNG, seed or not: they are independent of the
  arms and of the seed, so a site's kit codes say nothing about any allocation.
- **An imported list** (:meth:`Randomiser.from_slots`) comes from an independent statistician;
  its checksum is the list's sha256 (shown to the unblinded side only).

Concealment is an API contract: the list is held privately and an allocation is revealed only by
:meth:`Randomiser.randomise`; the whole list only by :meth:`Randomiser.export_list` with
``unblinded=True``. ``repr`` shows counts only; pickling and copying are refused. Python cannot
hide memory from a determined programmer, and the saved state file contains the list: in a live
trial the list lives in the randomisation database (IWRS), readable only by unblinded staff.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import tempfile
import warnings
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, NoReturn, Protocol

import numpy as np
import pandas as pd

from myotrial.errors import MyotrialError
from myotrial.randomisation.scheme import RandomisationScheme

__all__ = [
    "STATE_FORMAT",
    "Allocation",
    "AllocationError",
    "BalanceReport",
    "ConcealmentError",
    "Randomiser",
    "SeededListWarning",
    "StratumBalance",
    "random_kit_codes",
]

STATE_FORMAT = "myotrial-randomisation-state"
STATE_VERSION = 1
_KIT_SPACE = 900_000  # kit numbers 100000-999999
#: Security level of an unseeded list: every draw comes from the OS CSPRNG (os.urandom).
CSPRNG_BITS = 256


class SeededListWarning(UserWarning):
    """A list was generated from an explicit seed: anyone who knows the seed can rebuild it."""


class AllocationError(MyotrialError, ValueError):
    """A randomisation request cannot be honoured (already randomised, list exhausted, ...)."""


class ConcealmentError(MyotrialError, PermissionError):
    """An operation would reveal unrevealed allocations without an explicit unblinded request."""


@dataclass(frozen=True)
class Allocation:
    """One revealed allocation.

    ``sequence`` is the 1-based position in the stratum's list; ``kit_code`` identifies the
    blinded treatment pack.
    """

    subject_id: str
    stratum: str
    sequence: int
    arm: str
    kit_code: str
    randomised_at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject_id": self.subject_id,
            "stratum": self.stratum,
            "sequence": self.sequence,
            "arm": self.arm,
            "kit_code": self.kit_code,
            "randomised_at": self.randomised_at,
        }


@dataclass(frozen=True)
class _Slot:
    stratum: str
    sequence: int
    block: int
    block_size: int
    arm: str
    kit_code: str


@dataclass(frozen=True)
class StratumBalance:
    """Arm counts among randomised patients of one stratum (or overall).

    ``imbalance`` = max over arms of ``|n_arm - n * ratio_arm / sum(ratio)|`` (0 = exactly on
    ratio); for two arms 1:1 this is half the difference ``|n_a - n_b|``, given as
    ``max_difference`` (largest minus smallest ratio-scaled count, ``max n_arm/r_arm -
    min n_arm/r_arm``).
    """

    stratum: str
    n: int
    counts: Mapping[str, int]
    imbalance: float
    max_difference: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "stratum": self.stratum,
            "n": self.n,
            **{f"n_{a}": c for a, c in self.counts.items()},
            "imbalance": self.imbalance,
            "max_difference": self.max_difference,
        }


@dataclass(frozen=True)
class BalanceReport:
    """Balance per stratum and overall (see :class:`StratumBalance`)."""

    arms: tuple[str, ...]
    ratio: tuple[int, ...]
    strata: tuple[StratumBalance, ...]
    overall: StratumBalance

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([s.as_dict() for s in (*self.strata, self.overall)])


def _balance(
    stratum: str, counts: Mapping[str, int], scheme: RandomisationScheme
) -> StratumBalance:
    n = sum(counts.values())
    dev = max(
        abs(Fraction(counts[a]) - Fraction(n * r, scheme.ratio_sum))
        for a, r in zip(scheme.arms, scheme.ratio, strict=True)
    )
    scaled = [Fraction(counts[a], r) for a, r in zip(scheme.arms, scheme.ratio, strict=True)]
    return StratumBalance(stratum, n, dict(counts), float(dev), float(max(scaled) - min(scaled)))


class _Draws(Protocol):
    def size(self, sizes: tuple[int, ...]) -> int: ...

    def order(self, n: int) -> list[int]: ...


class _SeededDraws:
    """PCG64 seeded with ``seed``: reproducible (validation only)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def size(self, sizes: tuple[int, ...]) -> int:
        return int(self.rng.choice(np.asarray(sizes)))

    def order(self, n: int) -> list[int]:
        return [int(i) for i in self.rng.permutation(n)]


class _SystemDraws:
    """The operating system's CSPRNG: nothing to seed, nothing to recover."""

    def __init__(self) -> None:
        self.rng = secrets.SystemRandom()

    def size(self, sizes: tuple[int, ...]) -> int:
        return int(self.rng.choice(sizes))

    def order(self, n: int) -> list[int]:
        out = list(range(n))
        self.rng.shuffle(out)
        return out


def random_kit_codes(n: int, taken: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """``n`` distinct kit codes ``K100000``-``K999999`` from the OS CSPRNG (never from a seed:
    kit codes are independent of the arms and of any seed), avoiding ``taken``."""
    if n + len(taken) > _KIT_SPACE:
        raise ValueError(f"list of {n} slots exceeds the {_KIT_SPACE} kit codes")
    rng = secrets.SystemRandom()
    out: list[str] = []
    seen = set(taken)
    while len(out) < n:
        code = f"K{100_000 + rng.randrange(_KIT_SPACE)}"
        if code not in seen:
            seen.add(code)
            out.append(code)
    return out


def _generate(scheme: RandomisationScheme, seed: int | None) -> list[_Slot]:
    draws: _Draws = _SystemDraws() if seed is None else _SeededDraws(seed)
    slots: list[tuple[str, int, int, int, str]] = []
    for stratum in scheme.strata:
        seq = 0
        block = 0
        while seq < scheme.n_per_stratum:
            block += 1
            size = draws.size(tuple(scheme.block_sizes))
            content = [arm for arm, k in scheme.per_block(size).items() for _ in range(k)]
            for index in draws.order(len(content)):
                seq += 1
                slots.append((stratum, seq, block, size, content[index]))
    kits = random_kit_codes(len(slots))
    return [_Slot(s, q, b, z, a, k) for (s, q, b, z, a), k in zip(slots, kits, strict=True)]


def _check_slots(scheme: RandomisationScheme, slots: list[_Slot]) -> None:
    """An imported list must follow the scheme: known strata and arms, sequences 1..n per
    stratum, whole blocks of an allowed size holding every arm in the ratio, unique kits."""
    problems: list[str] = []
    by_stratum: dict[str, list[_Slot]] = {}
    for slot in slots:
        by_stratum.setdefault(slot.stratum, []).append(slot)
    unknown = sorted(set(by_stratum) - set(scheme.strata))
    if unknown:
        problems.append(
            f"unknown strata {unknown}; the scheme's strata: {', '.join(scheme.strata)}"
        )
    arms = sorted({s.arm for s in slots} - set(scheme.arms))
    if arms:
        problems.append(f"unknown arm code(s) {arms}; arms: {', '.join(scheme.arms)}")
    kits = [s.kit_code for s in slots]
    if len(set(kits)) != len(kits):
        problems.append("kit codes repeat: every slot needs its own kit")
    for key in scheme.strata:
        group = sorted(by_stratum.get(key, []), key=lambda s: s.sequence)
        if len(group) < scheme.n_per_stratum:
            problems.append(
                f"stratum {key} has {len(group)} slots, fewer than "
                f"n_per_stratum {scheme.n_per_stratum}"
            )
        if [s.sequence for s in group] != list(range(1, len(group) + 1)):
            problems.append(f"stratum {key}: sequences must run 1, 2, 3, ... without gaps")
            continue
        blocks: dict[int, list[_Slot]] = {}
        for s in group:
            blocks.setdefault(s.block, []).append(s)
        for number, members in blocks.items():
            size = members[0].block_size
            if size not in scheme.block_sizes or any(m.block_size != size for m in members):
                problems.append(
                    f"stratum {key} block {number}: block size {size} is not one "
                    f"of {list(scheme.block_sizes)}"
                )
                continue
            if len(members) != size or Counter(m.arm for m in members) != Counter(
                {a: k for a, k in scheme.per_block(size).items()}
            ):
                problems.append(
                    f"stratum {key} block {number}: not a complete block of "
                    f"{size} in the ratio {scheme.ratio_text}"
                )
    if problems:
        raise AllocationError(
            "the imported list does not follow the scheme: " + "; ".join(problems[:10])
        )


def _digest(slots: list[_Slot]) -> str:
    canon = json.dumps([_slot_dict(s) for s in slots], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def _slot_dict(s: _Slot) -> dict[str, Any]:
    return {
        "stratum": s.stratum,
        "sequence": s.sequence,
        "block": s.block,
        "block_size": s.block_size,
        "arm": s.arm,
        "kit_code": s.kit_code,
    }


class Randomiser:
    """Reveal allocations one patient at a time from a concealed, seeded list.

    Examples
    --------
    >>> from myotrial.randomisation import RandomisationScheme, StratumFactor
    >>> scheme = RandomisationScheme(factors=(StratumFactor("sex", ("f", "m")),),
    ...                              n_per_stratum=8)
    >>> rz = Randomiser(scheme)  # OS CSPRNG; Randomiser(scheme, seed=42) only to validate
    >>> a = rz.randomise("S001", {"sex": "f"})
    >>> a.stratum, a.sequence, a.arm in ("ivig", "placebo")
    ('sex=f', 1, True)
    >>> rz.export_list()  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ...
    myotrial.randomisation.randomiser.ConcealmentError: the full list reveals future allocations
    """

    __slots__ = ("__assigned", "__queues", "__slots", "_imported", "_scheme", "_seed")

    def __init__(self, scheme: RandomisationScheme, seed: int | None = None) -> None:
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
        ):
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self._scheme = scheme
        self._seed = None if seed is None else int(seed)
        self._imported = False
        if self._seed is not None:
            warnings.warn(
                f"randomisation list generated from the explicit seed {self._seed}: anyone who "
                "knows or guesses the seed can rebuild every allocation. Use a seed for "
                "validation only; a live trial's list is drawn from the OS CSPRNG (no seed).",
                SeededListWarning,
                stacklevel=2,
            )
        self.__slots: list[_Slot] = _generate(scheme, self._seed)
        self.__assigned: dict[str, Allocation] = {}
        self.__queues: dict[str, deque[_Slot]] = {}
        self.__rebuild_queues()

    # -- construction from state ----------------------------------------------------------

    def __rebuild_queues(self) -> None:
        used = {(a.stratum, a.sequence) for a in self.__assigned.values()}
        self.__queues = {s: deque() for s in self._scheme.strata}
        for slot in self.__slots:
            if (slot.stratum, slot.sequence) not in used:
                self.__queues[slot.stratum].append(slot)

    @classmethod
    def from_slots(
        cls, scheme: RandomisationScheme, slots: pd.DataFrame | list[Mapping[str, Any]]
    ) -> Randomiser:
        """A list generated elsewhere (an independent statistician): rows with ``stratum``,
        ``sequence``, ``block``, ``block_size``, ``arm`` and optionally ``kit_code`` (missing
        kit codes are drawn from the OS CSPRNG). Checked against ``scheme``
        (:class:`AllocationError` names every problem)."""
        rows: list[Mapping[str, Any]] = (
            [{str(k): v for k, v in r.items()} for r in slots.to_dict("records")]
            if isinstance(slots, pd.DataFrame)
            else list(slots)
        )
        need = ("stratum", "sequence", "block", "block_size", "arm")
        parsed: list[tuple[str, int, int, int, str, str | None]] = []
        for n, row in enumerate(rows, start=1):
            missing = [c for c in need if c not in row or row[c] is None or row[c] != row[c]]
            if missing:
                raise AllocationError(f"imported list row {n} lacks {', '.join(missing)}")
            try:
                kit = row.get("kit_code")
                kit_text = (
                    None
                    if kit is None or kit != kit or str(kit).strip() == ""
                    else str(kit).strip()
                )
                parsed.append(
                    (
                        str(row["stratum"]).strip(),
                        int(row["sequence"]),
                        int(row["block"]),
                        int(row["block_size"]),
                        str(row["arm"]).strip(),
                        kit_text,
                    )
                )
            except (TypeError, ValueError):
                raise AllocationError(
                    f"imported list row {n}: sequence, block and block_size must be whole numbers"
                ) from None
            if kit_text is not None and not (len(kit_text) <= 32 and kit_text.isalnum()):
                raise AllocationError(
                    f"imported list row {n}: kit code must be 1-32 letters or digits"
                )
        given = {k for *_, k in parsed if k is not None}
        fresh = iter(random_kit_codes(sum(k is None for *_, k in parsed), given))
        out = [
            _Slot(s, q, b, z, a, k if k is not None else next(fresh)) for s, q, b, z, a, k in parsed
        ]
        out.sort(
            key=lambda s: (
                scheme.strata.index(s.stratum) if s.stratum in scheme.strata else -1,
                s.sequence,
            )
        )
        _check_slots(scheme, out)
        self = cls.__new__(cls)
        self._scheme = scheme
        self._seed = None
        self._imported = True
        self.__slots = out
        self.__assigned = {}
        self.__rebuild_queues()
        return self

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Randomiser:
        """Load a state file written by :meth:`save` (checks format and list checksum)."""
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such randomisation state file")
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise AllocationError(f"{p}: not a randomisation state file ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise AllocationError(f"{p}: not a {STATE_FORMAT} file")
        if data.get("version") != STATE_VERSION:
            raise AllocationError(f"{p}: unsupported state version {data.get('version')!r}")
        scheme = RandomisationScheme.from_dict(data["scheme"])
        self = cls.__new__(cls)
        self._scheme = scheme
        self._seed = None if data.get("seed") is None else int(data["seed"])
        self._imported = bool(data.get("imported", False))
        self.__slots = [_Slot(**s) for s in data["list"]]
        if _digest(self.__slots) != data.get("list_sha256"):
            raise AllocationError(
                f"{p}: the allocation list does not match its checksum (edited or corrupted)"
            )
        self.__assigned = {a["subject_id"]: Allocation(**a) for a in data["assignments"]}
        self.__rebuild_queues()
        for a in self.__assigned.values():
            slot = next(
                (s for s in self.__slots if s.stratum == a.stratum and s.sequence == a.sequence),
                None,
            )
            if slot is None or slot.arm != a.arm or slot.kit_code != a.kit_code:
                raise AllocationError(f"{p}: assignment of {a.subject_id} does not match the list")
        return self

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the state (scheme, seed, full list, assignments) atomically as JSON.

        The file contains the unblinded list: store it where only unblinded staff can read it.
        """
        p = Path(path)
        data = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "note": "UNBLINDED: contains the full allocation list; restrict access",
            "created_by": "myotrial.randomisation",
            "seed": self._seed,
            "imported": self._imported,
            "scheme": self._scheme.to_dict(),
            "list_sha256": _digest(self.__slots),
            "list": [_slot_dict(s) for s in self.__slots],
            "assignments": [a.as_dict() for a in self.__assigned.values()],
        }
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1)
                fh.write("\n")
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return p

    # -- the concealed operations ---------------------------------------------------------

    @property
    def scheme(self) -> RandomisationScheme:
        return self._scheme

    @property
    def seed(self) -> int | None:
        """The explicit seed (validation lists only); None for a CSPRNG or imported list."""
        return self._seed

    @property
    def source(self) -> str:
        """``csprng`` (the default), ``seeded`` (validation) or ``imported``."""
        if self._imported:
            return "imported"
        return "csprng" if self._seed is None else "seeded"

    @property
    def entropy_bits(self) -> int | None:
        """Bits an outsider must guess to rebuild the list: :data:`CSPRNG_BITS` for a CSPRNG
        list, the seed's bit length (at least 1) for a seeded one, None for an imported list
        (its randomness is its author's)."""
        if self._imported:
            return None
        if self._seed is None:
            return CSPRNG_BITS
        return max(1, int(self._seed).bit_length())

    @property
    def list_sha256(self) -> str:
        """Checksum of the full list (UNBLINDED material: show it to the unblinded side only)."""
        return _digest(self.__slots)

    def randomise(
        self,
        subject_id: str,
        stratum: Mapping[str, str] | str | None = None,
        *,
        when: dt.datetime | None = None,
    ) -> Allocation:
        """Reveal and record the next allocation of ``stratum`` for ``subject_id``.

        Raises
        ------
        AllocationError
            If the subject was already randomised or the stratum's list is exhausted.
        ValueError
            If the stratum is not one of the scheme's (the message lists them).
        """
        sid = str(subject_id).strip()
        if not sid:
            raise AllocationError("subject_id is required")
        if sid in self.__assigned:
            prior = self.__assigned[sid]
            raise AllocationError(
                f"subject {sid} was already randomised (stratum {prior.stratum}, "
                f"sequence {prior.sequence}, kit {prior.kit_code}); a patient is randomised once"
            )
        key = self._scheme.stratum_key(stratum)
        queue = self.__queues[key]
        if not queue:
            raise AllocationError(
                f"stratum {key} has no allocations left ({self.n_assigned(key)} used): "
                "the list must be extended by the unblinded statistician"
            )
        slot = queue.popleft()
        stamp = (when or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
        allocation = Allocation(sid, key, slot.sequence, slot.arm, slot.kit_code, stamp)
        self.__assigned[sid] = allocation
        return allocation

    def allocations(self) -> tuple[Allocation, ...]:
        """Allocations revealed so far, in order of randomisation."""
        return tuple(self.__assigned.values())

    def n_assigned(self, stratum: Mapping[str, str] | str | None = None) -> int:
        """Number randomised, overall (``stratum=None`` with strata) or in one stratum."""
        if stratum is None and self._scheme.factors:
            return len(self.__assigned)
        key = self._scheme.stratum_key(stratum)
        return sum(1 for a in self.__assigned.values() if a.stratum == key)

    def n_remaining(self, stratum: Mapping[str, str] | str | None = None) -> int:
        """Unrevealed slots, overall (``stratum=None`` with strata) or in one stratum."""
        if stratum is None and self._scheme.factors:
            return sum(len(q) for q in self.__queues.values())
        return len(self.__queues[self._scheme.stratum_key(stratum)])

    def balance(self) -> BalanceReport:
        """Arm counts and imbalance among randomised patients, per stratum and overall."""
        s = self._scheme
        per: list[StratumBalance] = []
        total = dict.fromkeys(s.arms, 0)
        for key in s.strata:
            counts = dict.fromkeys(s.arms, 0)
            for a in self.__assigned.values():
                if a.stratum == key:
                    counts[a.arm] += 1
                    total[a.arm] += 1
            per.append(_balance(key, counts, s))
        return BalanceReport(s.arms, s.ratio, tuple(per), _balance("overall", total, s))

    def export_list(self, *, unblinded: bool = False) -> pd.DataFrame:
        """The full list (one row per slot, with any assignment) for the unblinded statistician.

        Raises :class:`ConcealmentError` unless ``unblinded=True`` is passed explicitly.
        """
        if unblinded is not True:
            raise ConcealmentError(
                "the full allocation list reveals future allocations: call "
                "export_list(unblinded=True) only as the unblinded statistician"
            )
        by_slot = {(a.stratum, a.sequence): a for a in self.__assigned.values()}
        rows = []
        for s in self.__slots:
            a = by_slot.get((s.stratum, s.sequence))
            rows.append(
                {
                    **_slot_dict(s),
                    "subject_id": None if a is None else a.subject_id,
                    "randomised_at": None if a is None else a.randomised_at,
                }
            )
        return pd.DataFrame(rows)

    # -- no leaks ---------------------------------------------------------------------------

    def __repr__(self) -> str:
        s = self._scheme
        return (
            f"<Randomiser arms={'/'.join(s.arms)} ratio={s.ratio_text} "
            f"strata={len(s.strata)} randomised={len(self.__assigned)} "
            f"remaining={sum(len(q) for q in self.__queues.values())} (list concealed)>"
        )

    __str__ = __repr__

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(
            "a Randomiser is not picklable or copyable (it would carry the concealed list); "
            "use save()/load() for the state file"
        )

    def __getstate__(self) -> NoReturn:
        raise TypeError("a Randomiser is not picklable (it would carry the concealed list)")
