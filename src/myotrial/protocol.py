"""Declarative trial protocols (TOML), validated on load.

A protocol names the arms, periods, visit schedule, dosing, scoring options, deterioration and
crossover rules and the endpoint definitions of a ProDERM-design trial. The shipped ``proderm``
protocol (``myotrial/protocols/proderm.toml``) cites its sources and marks UNCONFIRMED values;
a copy of the file with other values is a new protocol (``load_protocol("path/to/file.toml")``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from myotrial.errors import RulesError
from myotrial.rules import (
    bundled_toml_names,
    load_deterioration_rules,
    load_scales,
    load_tis_rules,
    resolve_toml,
    rules_path,
)
from myotrial.sap import StatisticalAnalysisPlan, default_sap, read_sap
from myotrial.tomlfile import TomlTable, read_toml

if TYPE_CHECKING:
    from myotrial.policy import ProtocolPolicy

__all__ = [
    "Arm",
    "BinaryEndpoint",
    "ContinuousEndpoint",
    "Dosing",
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
    category: str | None = None


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
    category: str | None = None


@dataclass(frozen=True)
class Dosing:
    """Dosing of the study product ([dosing] of the protocol file).

    ``cycle_days`` is the (fewest, most) consecutive days one cycle may be split over; a cycle's
    total dose may not exceed ``dose_g_per_kg`` (``reduced_dose_g_per_kg`` is allowed from
    ``reduced_dose_from_week``); rates above ``max_rate_ml_per_kg_min`` are flagged.
    """

    dose_g_per_kg: float
    interval_weeks: int
    cycle_days: tuple[int, int]
    cycles_randomised: int
    cycles_extension: int
    start_rate_ml_per_kg_min: float
    max_rate_ml_per_kg_min: float
    reduced_dose_g_per_kg: float | None = None
    reduced_dose_from_week: int | None = None

    @property
    def total_cycles(self) -> int:
        return self.cycles_randomised + self.cycles_extension

    def get(self, key: str, default: Any = None) -> Any:
        """Dictionary-style access (older callers)."""
        return getattr(self, key, default)


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
    dosing: Dosing
    visit_window_days: int = 7
    infusion_related_window_hours: float = 72.0
    deterioration_rules: Path | None = None
    sap: StatisticalAnalysisPlan | None = None
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

    @property
    def policy(self) -> ProtocolPolicy:
        """The answers every consumer reads (:class:`myotrial.policy.ProtocolPolicy`)."""
        from myotrial.policy import ProtocolPolicy

        return ProtocolPolicy(self)

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


_CATEGORIES = ("minimal", "moderate", "major")


def _threshold(
    e: TomlTable, cutoffs: dict[str, float], required: bool
) -> tuple[float | None, str | None]:
    """An endpoint's TIS threshold: ``category`` (the population's cut-off, rules/tis_2016.toml)
    or a literal ``threshold`` — exactly one of them."""
    category = e.str("category", None, choices=_CATEGORIES)
    threshold = e.float("threshold", None, min=0.0, max=100.0)
    if category is not None and threshold is not None:
        raise e.error("threshold", "give either category or threshold, not both")
    if category is not None:
        return cutoffs[category], category
    if threshold is None and required:
        raise e.error(
            None, "missing required key 'category' (minimal/moderate/major) or 'threshold'"
        )
    return threshold, None


def _label(e: TomlTable, threshold: float | None) -> str:
    label: str = e.str("label")
    if "{threshold}" in label:
        if threshold is None:
            raise e.error("label", "uses {threshold} but the endpoint has no threshold")
        label = label.replace("{threshold}", f"{threshold:g}")
    return label


def _binary(e: TomlTable, cutoffs: dict[str, float]) -> BinaryEndpoint:
    threshold, category = _threshold(e, cutoffs, required=True)
    assert threshold is not None
    return BinaryEndpoint(
        name=e.str("name"),
        label=_label(e, threshold),
        threshold=threshold,
        week=e.int("week", min=0),
        population=e.str("population", choices=_POPULATIONS),
        no_deterioration_through_week=e.int("no_deterioration_through_week", None, min=0),
        category=category,
    )


def _continuous(e: TomlTable) -> ContinuousEndpoint:
    return ContinuousEndpoint(
        name=e.str("name"),
        label=e.str("label"),
        parameter=e.str("parameter"),
        week=e.int("week", min=0),
        population=e.str("population", choices=_POPULATIONS),
        missing=e.str("missing", "observed", choices=("observed",)),
    )


def _time_to_event(e: TomlTable, cutoffs: dict[str, float]) -> TimeToEventEndpoint:
    event = e.str("event", choices=("tis", "deterioration"))
    threshold, category = _threshold(e, cutoffs, required=False)
    ep = TimeToEventEndpoint(
        name=e.str("name"),
        label=_label(e, threshold),
        event=event,
        through_week=e.int("through_week", min=1),
        threshold=threshold,
        category=category,
    )
    if ep.event == "deterioration" and ep.threshold is not None:
        raise e.error("threshold", f"endpoint {ep.name} (event = 'deterioration') takes none")
    if ep.event == "tis" and ep.threshold is None:
        raise e.error("threshold", f"time-to-event endpoint {ep.name} (event = 'tis') needs one")
    return ep


def _dosing(d: TomlTable) -> Dosing:
    days = d.int_list("cycle_days", min=1)
    if len(days) != 2 or days[0] > days[1]:
        raise d.error("cycle_days", f"must be [fewest, most] days per cycle, got {list(days)}")
    start = d.float("start_rate_ml_per_kg_min", min=0.0, min_exclusive=True)
    most = d.float("max_rate_ml_per_kg_min", min=0.0, min_exclusive=True)
    if start > most:
        raise d.error("start_rate_ml_per_kg_min", f"= {start:g} exceeds the maximum rate {most:g}")
    dose = d.float("dose_g_per_kg", min=0.0, min_exclusive=True)
    reduced = d.float("reduced_dose_g_per_kg", None, min=0.0, min_exclusive=True)
    if reduced is not None and reduced > dose:
        raise d.error("reduced_dose_g_per_kg", f"= {reduced:g} exceeds the dose {dose:g}")
    return Dosing(
        dose_g_per_kg=dose,
        interval_weeks=d.int("interval_weeks", min=1),
        cycle_days=(int(days[0]), int(days[1])),
        cycles_randomised=d.int("cycles_randomised", min=0),
        cycles_extension=d.int("cycles_extension", min=0),
        start_rate_ml_per_kg_min=start,
        max_rate_ml_per_kg_min=most,
        reduced_dose_g_per_kg=reduced,
        reduced_dose_from_week=d.int("reduced_dose_from_week", None, min=0),
    )


def _deterioration(det: TomlTable, source: Path) -> tuple[Path, int, float]:
    """[deterioration] references the rules file whose [confirmation] it uses; values given
    here too must agree with that file (one truth: loading fails otherwise)."""
    name = det.str("rules", "proderm_deterioration")
    rules_file = Path(name) if name.endswith(".toml") else rules_path(f"{name}.toml")
    if not rules_file.is_absolute() and name.endswith(".toml"):
        rules_file = source.parent / rules_file
    rules = load_deterioration_rules(rules_file)
    k = det.int("consecutive_visits", rules.consecutive_visits, min=1)
    earliest = det.float("earliest_week", rules.earliest_week, min=0.0)
    for key, mine, theirs in (
        ("consecutive_visits", float(k), float(rules.consecutive_visits)),
        ("earliest_week", float(earliest), float(rules.earliest_week)),
    ):
        if mine != theirs:
            raise det.error(
                key,
                f"= {mine:g} disagrees with {theirs:g} in [confirmation] of {rules_file}; "
                "change one, or reference a rules file with the value you want",
            )
    return rules_file, int(k), float(earliest)


def load_protocol(name_or_path: str | Path = "proderm") -> Protocol:
    """Load and validate a protocol by bundled name (``"proderm"``) or TOML path.

    Every key is read strictly (:mod:`myotrial.tomlfile`): an unknown or misspelt key is an
    error naming the file, the key path and the key probably meant.

    Raises
    ------
    RulesError
        Naming the file, the table and the field that is missing, unknown or invalid.
    """
    source = _path(name_or_path)
    root = read_toml(source, "protocol file")
    meta = root.table("protocol")
    name, title = meta.str("name"), meta.str("title")
    citation = meta.str("citation", "")
    meta.documentation("doi")
    arms: list[Arm] = []
    for code, spec in root.table("arms").subtables():
        arms.append(
            Arm(code, spec.str("role", choices=("treatment", "control")), spec.str("label"))
        )
    if sorted(a.role for a in arms) != ["control", "treatment"]:
        raise RulesError(f"{source}: [arms] needs exactly one treatment and one control arm")
    codes = {a.code for a in arms}
    rnd = root.table("randomisation")
    ratio_t = rnd.table("ratio")
    ratio = {code: ratio_t.int(code, min=1) for code in sorted(codes)}
    block_sizes = rnd.int_list("block_sizes", min=1)
    if not block_sizes:
        raise rnd.error("block_sizes", "needs at least one block size")
    unit = sum(ratio.values())
    if any(b % unit for b in block_sizes):
        raise rnd.error("block_sizes", f"{list(block_sizes)}: each must be a multiple of {unit}")
    strata = rnd.str_list("strata", ())
    periods, schedule = root.table("periods"), root.table("schedule")
    rand_end = periods.int("randomised_end_week", min=1)
    ext_end = periods.int("extension_end_week", min=rand_end)
    ext_arm = periods.str("extension_arm", choices=sorted(codes))
    weeks = schedule.int_list("assessment_weeks", min=0)
    if not weeks or weeks[0] != 0 or list(weeks) != sorted(set(weeks)):
        raise schedule.error("assessment_weeks", "must start at 0 and increase")
    if weeks[-1] > ext_end:
        raise schedule.error("assessment_weeks", f"week {weeks[-1]} is after the extension end")
    primary_week = schedule.int("primary_week", min=1, max=rand_end)
    final_week = schedule.int("final_week", min=primary_week, max=ext_end)
    for key, week in (("primary_week", primary_week), ("final_week", final_week)):
        if week not in weeks:
            raise schedule.error(key, f"week {week} is not an assessment week {list(weeks)}")
    window = schedule.int("visit_window_days", 7, min=0)
    dosing = _dosing(root.table("dosing"))
    safety = root.optional_table("safety")
    ir_window = safety.float("infusion_related_window_hours", 72.0, min=0.0)
    scoring = root.table("scoring")
    population = scoring.str("population", choices=("adult", "juvenile"))
    measure_set = scoring.str("measure_set", choices=("imacs", "printo"))
    mmt8_max = scoring.float("mmt8_max")
    allowed = load_scales().measures["mmt8"].allowed_max  # rules/measures.toml, with sources
    if mmt8_max not in allowed:
        valid = " or ".join(f"{m:g}" for m in allowed)
        raise scoring.error("mmt8_max", f"= {mmt8_max:g}; valid: {valid}")
    rules_file, k, earliest = _deterioration(root.table("deterioration"), source)
    cross = root.table("crossover")
    endpoints = root.table("endpoints")
    cut = load_tis_rules().categories[population]
    cutoffs = {"minimal": cut.minimal, "moderate": cut.moderate, "major": cut.major}
    binary = tuple(_binary(e, cutoffs) for e in endpoints.tables("binary", []))
    continuous = tuple(_continuous(e) for e in endpoints.tables("continuous", []))
    tte = tuple(_time_to_event(e, cutoffs) for e in endpoints.tables("time_to_event", []))
    names = [e.name for e in binary] + [e.name for e in continuous] + [e.name for e in tte]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise RulesError(f"{source}: endpoint names must be unique; repeated: {', '.join(dup)}")
    for ep_name, ep_week in [(e.name, e.week) for e in binary] + [
        (e.name, e.week) for e in continuous
    ]:
        if ep_week not in weeks:
            raise RulesError(
                f"{source}: endpoint {ep_name} week {ep_week} is not an assessment week"
            )
    primary = endpoints.str("primary", choices=[e.name for e in binary])
    kinds = {e.name: "binary" for e in binary}
    kinds |= {e.name: "continuous" for e in continuous}
    kinds |= {e.name: "time_to_event" for e in tte}
    if "sap" in root:
        sap = read_sap(
            root.table("sap"), endpoints=kinds, primary=primary, randomisation_strata=tuple(strata)
        )
    else:
        sap = default_sap(
            [(e.name, "binary", e.week, e.population) for e in binary]
            + [(e.name, "continuous", e.week, e.population) for e in continuous],
            primary,
            rand_end,
        )
    proto = Protocol(
        name=name,
        title=title,
        citation=citation,
        arms=tuple(arms),
        ratio=ratio,
        block_sizes=tuple(int(b) for b in block_sizes),
        strata=tuple(strata),
        randomised_end_week=rand_end,
        extension_end_week=ext_end,
        extension_arm=ext_arm,
        assessment_weeks=tuple(int(w) for w in weeks),
        primary_week=primary_week,
        final_week=final_week,
        population=population,
        measure_set=measure_set,
        mmt8_max=mmt8_max,
        consecutive_visits=k,
        earliest_week=earliest,
        control_on_deterioration=cross.str("control_on_deterioration", choices=_CONTROL_ACTIONS),
        treatment_on_deterioration=cross.str(
            "treatment_on_deterioration", choices=_TREATMENT_ACTIONS
        ),
        after_switch_deterioration=cross.str("after_switch_deterioration", choices=_AFTER_SWITCH),
        primary=primary,
        binary=binary,
        continuous=continuous,
        time_to_event=tte,
        dosing=dosing,
        visit_window_days=window,
        infusion_related_window_hours=ir_window,
        deterioration_rules=rules_file,
        sap=sap,
        source=source,
    )
    root.finish()
    return proto
