"""Declarative trial protocols (TOML), validated on load.

A protocol names the arms, periods, visit schedule, dosing, scoring options, deterioration and
crossover rules and the endpoint definitions of a ProDERM-design trial. The shipped ``proderm``
protocol (``myotrial/protocols/proderm.toml``) cites its sources and marks UNCONFIRMED values;
a copy of the file with other values is a new protocol (``load_protocol("path/to/file.toml")``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from myotrial.errors import RulesError
from myotrial.rules import bundled_toml_names, resolve_toml

__all__ = [
    "Arm",
    "BinaryEndpoint",
    "ContinuousEndpoint",
    "Protocol",
    "TimeToEventEndpoint",
    "available_protocols",
    "load_protocol",
]

Population = Literal["randomised", "entered_extension"]
_POPULATIONS = ("randomised", "entered_extension")
_CONTROL_ACTIONS = ("switch", "discontinue", "continue")
_TREATMENT_ACTIONS = ("no_extension", "discontinue", "continue")
_AFTER_SWITCH = ("discontinue", "continue")


@dataclass(frozen=True)
class Arm:
    code: str
    role: Literal["treatment", "control"]
    label: str


@dataclass(frozen=True)
class BinaryEndpoint:
    """Responder at ``week``: TIS >= ``threshold`` (and no confirmed deterioration up to
    ``no_deterioration_through_week`` when given); missing -> non-responder."""

    name: str
    label: str
    threshold: float
    week: int
    population: Population
    no_deterioration_through_week: int | None = None


@dataclass(frozen=True)
class ContinuousEndpoint:
    name: str
    label: str
    parameter: str
    week: int
    population: Population
    missing: Literal["observed"] = "observed"


@dataclass(frozen=True)
class TimeToEventEndpoint:
    """First visit with TIS >= ``threshold`` (``event="tis"``) or confirmed deterioration
    (``event="deterioration"``) up to ``through_week``; otherwise censored at the last
    assessment in that window."""

    name: str
    label: str
    event: Literal["tis", "deterioration"]
    through_week: int
    threshold: float | None = None


@dataclass(frozen=True)
class Protocol:
    """A validated trial protocol. See ``myotrial/protocols/proderm.toml`` for each field."""

    name: str
    title: str
    citation: str
    arms: tuple[Arm, ...]
    ratio: dict[str, int]
    block_sizes: tuple[int, ...]
    strata: tuple[str, ...]
    randomised_end_week: int
    extension_end_week: int
    extension_arm: str
    assessment_weeks: tuple[int, ...]
    primary_week: int
    final_week: int
    population: str
    measure_set: str
    mmt8_max: float
    consecutive_visits: int
    earliest_week: float
    control_on_deterioration: str
    treatment_on_deterioration: str
    after_switch_deterioration: str
    primary: str
    binary: tuple[BinaryEndpoint, ...]
    continuous: tuple[ContinuousEndpoint, ...]
    time_to_event: tuple[TimeToEventEndpoint, ...]
    dosing: dict[str, Any] = field(default_factory=dict)
    source: Path | None = field(default=None, compare=False)

    @property
    def treatment(self) -> Arm:
        return next(a for a in self.arms if a.role == "treatment")

    @property
    def control(self) -> Arm:
        return next(a for a in self.arms if a.role == "control")

    @property
    def arm_codes(self) -> tuple[str, ...]:
        return tuple(a.code for a in self.arms)

    def endpoint(self, name: str) -> BinaryEndpoint | ContinuousEndpoint | TimeToEventEndpoint:
        endpoints: tuple[BinaryEndpoint | ContinuousEndpoint | TimeToEventEndpoint, ...] = (
            *self.binary,
            *self.continuous,
            *self.time_to_event,
        )
        for ep in endpoints:
            if ep.name == name:
                return ep
        valid = ", ".join(e.name for e in endpoints)
        raise KeyError(f"no endpoint {name!r} in protocol {self.name}; valid: {valid}")


def available_protocols() -> list[str]:
    """Names of the protocols shipped with myotrial."""
    return bundled_toml_names("myotrial.protocols")


def _path(name_or_path: str | Path) -> Path:
    return resolve_toml(name_or_path, "myotrial.protocols", "protocol")


class _Reader:
    def __init__(self, source: Path, data: dict[str, Any]) -> None:
        self.source = source
        self.data = data

    def get(
        self, table: dict[str, Any], key: str, where: str, kind: type | tuple[type, ...]
    ) -> Any:
        if key not in table:
            raise RulesError(f"{self.source}: [{where}] is missing {key!r}")
        value = table[key]
        if isinstance(value, bool) and kind is not bool:
            raise RulesError(f"{self.source}: [{where}] {key} = {value!r} must be {kind}")
        if not isinstance(value, kind):
            raise RulesError(f"{self.source}: [{where}] {key} = {value!r} has the wrong type")
        return value

    def table(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        if not isinstance(value, dict):
            raise RulesError(f"{self.source}: missing table [{key}]")
        return value

    def choice(self, table: dict[str, Any], key: str, where: str, options: tuple[str, ...]) -> str:
        value = str(self.get(table, key, where, str))
        if value not in options:
            raise RulesError(
                f"{self.source}: [{where}] {key} = {value!r}; valid: {', '.join(options)}"
            )
        return value


def load_protocol(name_or_path: str | Path = "proderm") -> Protocol:
    """Load and validate a protocol by bundled name (``"proderm"``) or TOML path.

    Raises
    ------
    RulesError
        Naming the file, the table and the field that is missing or invalid.
    """
    source = _path(name_or_path)
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RulesError(f"{source}: protocol file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: not valid TOML ({exc})") from exc
    r = _Reader(source, data)
    meta = r.table("protocol")
    arms_t = r.table("arms")
    arms = tuple(
        Arm(
            code,
            r.choice(spec, "role", f"arms.{code}", ("treatment", "control")),  # type: ignore[arg-type]
            str(r.get(spec, "label", f"arms.{code}", str)),
        )
        for code, spec in arms_t.items()
    )
    roles = sorted(a.role for a in arms)
    if roles != ["control", "treatment"]:
        raise RulesError(f"{source}: [arms] needs exactly one treatment and one control arm")
    rnd = r.table("randomisation")
    ratio = {str(k): int(v) for k, v in r.get(rnd, "ratio", "randomisation", dict).items()}
    if set(ratio) != {a.code for a in arms} or any(v < 1 for v in ratio.values()):
        raise RulesError(f"{source}: [randomisation] ratio must give a positive integer per arm")
    periods, schedule = r.table("periods"), r.table("schedule")
    rand_end = int(r.get(periods, "randomised_end_week", "periods", int))
    ext_end = int(r.get(periods, "extension_end_week", "periods", int))
    if not 0 < rand_end <= ext_end:
        raise RulesError(f"{source}: [periods] need 0 < randomised_end_week <= extension_end_week")
    ext_arm = str(r.get(periods, "extension_arm", "periods", str))
    if ext_arm not in {a.code for a in arms}:
        raise RulesError(f"{source}: [periods] extension_arm {ext_arm!r} is not an arm")
    weeks = tuple(int(w) for w in r.get(schedule, "assessment_weeks", "schedule", list))
    if not weeks or weeks[0] != 0 or list(weeks) != sorted(set(weeks)):
        raise RulesError(f"{source}: [schedule] assessment_weeks must start at 0 and increase")
    scoring, det, cross = r.table("scoring"), r.table("deterioration"), r.table("crossover")
    endpoints = r.table("endpoints")
    binary = tuple(
        BinaryEndpoint(
            name=str(r.get(e, "name", "endpoints.binary", str)),
            label=str(r.get(e, "label", "endpoints.binary", str)),
            threshold=float(r.get(e, "threshold", "endpoints.binary", (int, float))),
            week=int(r.get(e, "week", "endpoints.binary", int)),
            population=r.choice(e, "population", "endpoints.binary", _POPULATIONS),  # type: ignore[arg-type]
            no_deterioration_through_week=(
                None
                if "no_deterioration_through_week" not in e
                else int(e["no_deterioration_through_week"])
            ),
        )
        for e in endpoints.get("binary", [])
    )
    continuous = tuple(
        ContinuousEndpoint(
            name=str(r.get(e, "name", "endpoints.continuous", str)),
            label=str(r.get(e, "label", "endpoints.continuous", str)),
            parameter=str(r.get(e, "parameter", "endpoints.continuous", str)),
            week=int(r.get(e, "week", "endpoints.continuous", int)),
            population=r.choice(e, "population", "endpoints.continuous", _POPULATIONS),  # type: ignore[arg-type]
            missing=r.choice(e, "missing", "endpoints.continuous", ("observed",)),  # type: ignore[arg-type]
        )
        for e in endpoints.get("continuous", [])
    )
    tte = tuple(
        TimeToEventEndpoint(
            name=str(r.get(e, "name", "endpoints.time_to_event", str)),
            label=str(r.get(e, "label", "endpoints.time_to_event", str)),
            event=r.choice(e, "event", "endpoints.time_to_event", ("tis", "deterioration")),  # type: ignore[arg-type]
            through_week=int(r.get(e, "through_week", "endpoints.time_to_event", int)),
            threshold=None if "threshold" not in e else float(e["threshold"]),
        )
        for e in endpoints.get("time_to_event", [])
    )
    for e in tte:
        if e.event == "tis" and e.threshold is None:
            raise RulesError(f"{source}: time-to-event endpoint {e.name} needs a threshold")
    names = [e.name for e in binary] + [e.name for e in continuous] + [e.name for e in tte]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise RulesError(f"{source}: endpoint names must be unique; repeated: {', '.join(dup)}")
    primary = str(r.get(endpoints, "primary", "endpoints", str))
    if primary not in {e.name for e in binary}:
        raise RulesError(f"{source}: [endpoints] primary {primary!r} is not a binary endpoint")
    proto = Protocol(
        name=str(r.get(meta, "name", "protocol", str)),
        title=str(r.get(meta, "title", "protocol", str)),
        citation=str(meta.get("citation", "")),
        arms=arms,
        ratio=ratio,
        block_sizes=tuple(int(b) for b in rnd.get("block_sizes", [])),
        strata=tuple(str(s) for s in rnd.get("strata", [])),
        randomised_end_week=rand_end,
        extension_end_week=ext_end,
        extension_arm=ext_arm,
        assessment_weeks=weeks,
        primary_week=int(r.get(schedule, "primary_week", "schedule", int)),
        final_week=int(r.get(schedule, "final_week", "schedule", int)),
        population=r.choice(scoring, "population", "scoring", ("adult", "juvenile")),
        measure_set=r.choice(scoring, "measure_set", "scoring", ("imacs", "printo")),
        mmt8_max=float(r.get(scoring, "mmt8_max", "scoring", (int, float))),
        consecutive_visits=int(r.get(det, "consecutive_visits", "deterioration", int)),
        earliest_week=float(r.get(det, "earliest_week", "deterioration", (int, float))),
        control_on_deterioration=r.choice(
            cross, "control_on_deterioration", "crossover", _CONTROL_ACTIONS
        ),
        treatment_on_deterioration=r.choice(
            cross, "treatment_on_deterioration", "crossover", _TREATMENT_ACTIONS
        ),
        after_switch_deterioration=r.choice(
            cross, "after_switch_deterioration", "crossover", _AFTER_SWITCH
        ),
        primary=primary,
        binary=binary,
        continuous=continuous,
        time_to_event=tte,
        dosing=dict(data.get("dosing", {})),
        source=source,
    )
    if proto.consecutive_visits < 1:
        raise RulesError(f"{source}: [deterioration] consecutive_visits must be >= 1")
    return proto
