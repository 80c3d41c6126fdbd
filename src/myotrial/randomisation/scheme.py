"""Randomisation scheme: arms, allocation ratio, block sizes and stratification factors.

ProDERM randomised 1:1 (IVIG : placebo); its stratification and block sizes are unconfirmed
(shared/reference/proderm.md "Design"), so every one of them is a parameter here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

__all__ = ["DEFAULT_ARMS", "RandomisationScheme", "StratumFactor"]

DEFAULT_ARMS = ("ivig", "placebo")
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_ALL = "all"


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(
            f"{what} {value!r} must be non-empty and use only letters, digits, '_', '.', '-'"
        )
    return value


@dataclass(frozen=True)
class StratumFactor:
    """One stratification factor, e.g. ``StratumFactor("site", ("01", "02"))``."""

    name: str
    levels: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_name(self.name, "stratification factor name")
        if not self.levels:
            raise ValueError(f"stratification factor {self.name!r} needs at least one level")
        for level in self.levels:
            _check_name(level, f"level of factor {self.name!r}")
        if len(set(self.levels)) != len(self.levels):
            raise ValueError(f"stratification factor {self.name!r} repeats a level: {self.levels}")

    @classmethod
    def parse(cls, text: str) -> StratumFactor:
        """Parse ``"name=level1,level2"`` (the CLI form)."""
        name, sep, levels = text.partition("=")
        if not sep or not levels.strip():
            raise ValueError(f"stratification factor {text!r} must look like 'sex=female,male'")
        return cls(name.strip(), tuple(v.strip() for v in levels.split(",")))


@dataclass(frozen=True)
class RandomisationScheme:
    """Stratified permuted-block design.

    Parameters
    ----------
    arms : tuple of str
        Arm codes (default ``("ivig", "placebo")``, the shipped ProDERM protocol).
    ratio : tuple of int
        Allocation ratio, one positive integer per arm (default 1:1; e.g. ``(2, 1)``).
    block_sizes : tuple of int
        Candidate block sizes; each must be a multiple of ``sum(ratio)``. Every block's size is
        drawn at random (uniformly) from this list, so the next allocation is harder to guess.
    factors : tuple of StratumFactor
        Stratification factors; strata are all combinations of their levels (none: one stratum).
    n_per_stratum : int
        Minimum list length per stratum; whole blocks are generated until it is reached.
    """

    arms: tuple[str, ...] = DEFAULT_ARMS
    ratio: tuple[int, ...] = (1, 1)
    block_sizes: tuple[int, ...] = (4, 6)
    factors: tuple[StratumFactor, ...] = field(default=())
    n_per_stratum: int = 50

    def __post_init__(self) -> None:
        if len(self.arms) < 2:
            raise ValueError(f"at least two arms are needed, got {list(self.arms)}")
        for arm in self.arms:
            _check_name(arm, "arm code")
        if len(set(self.arms)) != len(self.arms):
            raise ValueError(f"arm codes must be distinct, got {list(self.arms)}")
        if len(self.ratio) != len(self.arms):
            raise ValueError(
                f"ratio {':'.join(map(str, self.ratio))} has {len(self.ratio)} parts for "
                f"{len(self.arms)} arms ({', '.join(self.arms)})"
            )
        if any(not isinstance(r, int) or isinstance(r, bool) or r < 1 for r in self.ratio):
            raise ValueError(f"ratio parts must be positive integers, got {list(self.ratio)}")
        if not self.block_sizes:
            raise ValueError("at least one block size is needed")
        unit = self.ratio_sum
        bad = [b for b in self.block_sizes if not isinstance(b, int) or b < unit or b % unit]
        if bad:
            raise ValueError(
                f"block size(s) {bad} are not positive multiples of {unit} "
                f"(the sum of the ratio {':'.join(map(str, self.ratio))})"
            )
        if len(set(self.block_sizes)) != len(self.block_sizes):
            raise ValueError(f"block sizes repeat: {list(self.block_sizes)}")
        names = [f.name for f in self.factors]
        if len(set(names)) != len(names):
            raise ValueError(f"stratification factor names repeat: {names}")
        if not isinstance(self.n_per_stratum, int) or self.n_per_stratum < 1:
            raise ValueError(f"n_per_stratum must be a positive integer, got {self.n_per_stratum}")

    @classmethod
    def from_protocol(
        cls,
        protocol: Any,
        factors: tuple[StratumFactor, ...] = (),
        n_per_stratum: int = 50,
    ) -> RandomisationScheme:
        """The scheme a :class:`~myotrial.protocol.Protocol` defines (arms, ratio, block
        sizes, strata): see :meth:`myotrial.policy.ProtocolPolicy.randomisation_scheme`."""
        return protocol.policy.randomisation_scheme(  # type: ignore[no-any-return]
            factors=factors, n_per_stratum=n_per_stratum
        )

    @property
    def ratio_sum(self) -> int:
        return sum(self.ratio)

    @property
    def ratio_text(self) -> str:
        return ":".join(str(r) for r in self.ratio)

    @property
    def strata(self) -> tuple[str, ...]:
        """Stratum keys, e.g. ``("sex=female|site=01", ...)``; ``("all",)`` without factors."""
        if not self.factors:
            return (_ALL,)
        return tuple(
            "|".join(f"{f.name}={level}" for f, level in zip(self.factors, combo, strict=True))
            for combo in product(*(f.levels for f in self.factors))
        )

    def stratum_key(self, stratum: Mapping[str, str] | str | None) -> str:
        """Canonical key of a stratum given as a mapping or ``"a=x|b=y"`` / ``"a=x,b=y"`` text.

        Raises ValueError naming the bad factor or level and listing the valid ones.
        """
        if stratum is None or stratum == "" or stratum == _ALL:
            if self.factors:
                raise ValueError(f"a stratum is required; one of: {', '.join(self.strata)}")
            return _ALL
        given: dict[str, str]
        if isinstance(stratum, str):
            given = {}
            for part in re.split(r"[|,]", stratum):
                name, sep, level = part.partition("=")
                if not sep:
                    raise ValueError(f"stratum part {part!r} must look like factor=level")
                given[name.strip()] = level.strip()
        else:
            given = {str(k): str(v) for k, v in stratum.items()}
        known = {f.name: f for f in self.factors}
        extra = sorted(set(given) - set(known))
        if extra:
            raise ValueError(
                f"unknown stratification factor(s) {extra}; factors: {sorted(known) or 'none'}"
            )
        parts = []
        for f in self.factors:
            if f.name not in given:
                raise ValueError(f"stratum lacks factor {f.name!r} (levels: {', '.join(f.levels)})")
            level = given[f.name]
            if level not in f.levels:
                raise ValueError(
                    f"{f.name}={level!r} is not a level of {f.name}; levels: {', '.join(f.levels)}"
                )
            parts.append(f"{f.name}={level}")
        return "|".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "arms": list(self.arms),
            "ratio": list(self.ratio),
            "block_sizes": list(self.block_sizes),
            "factors": [{"name": f.name, "levels": list(f.levels)} for f in self.factors],
            "n_per_stratum": self.n_per_stratum,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RandomisationScheme:
        factors: Sequence[Mapping[str, Any]] = data.get("factors", [])
        return cls(
            arms=tuple(str(a) for a in data["arms"]),
            ratio=tuple(int(r) for r in data["ratio"]),
            block_sizes=tuple(int(b) for b in data["block_sizes"]),
            factors=tuple(
                StratumFactor(str(f["name"]), tuple(str(v) for v in f["levels"])) for f in factors
            ),
            n_per_stratum=int(data["n_per_stratum"]),
        )

    def expected_share(self, arm: str) -> float:
        """Target share of ``arm`` (ratio part / ratio sum)."""
        return self.ratio[self.arms.index(arm)] / self.ratio_sum

    def per_block(self, block_size: int) -> dict[str, int]:
        """Exact count of each arm in a complete block of ``block_size``."""
        k = block_size // self.ratio_sum
        return {arm: r * k for arm, r in zip(self.arms, self.ratio, strict=True)}
