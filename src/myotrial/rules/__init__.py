"""Published scoring rules as data, with their citations, and the loaders that validate them.

The TOML files beside this module are the single home of every published table and threshold
(TIS points, response categories, measure ranges, IMACS 2004 DOI, ProDERM deterioration). Each
file names its source and separates PUBLISHED facts from PROJECT RULES (our documented
interpretations; see ``shared/reference/response-criteria.md``). Loaders reject malformed files:
band gaps or overlaps, non-increasing edges, decreasing points, maxima not summing to 100.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

from myotrial.errors import RulesError

__all__ = [
    "SLOTS",
    "Band",
    "CategoryThresholds",
    "DOIRules",
    "DeteriorationRules",
    "MeasureScale",
    "MeasureSet",
    "Scales",
    "Slot",
    "TISRules",
    "bundled_toml_names",
    "load_deterioration_rules",
    "load_doi_rules",
    "load_scales",
    "load_tis_rules",
    "resolve_toml",
    "rules_path",
]

#: The six TIS slots, in the order of the scored-visits output (data-format.md).
SLOTS: tuple[str, ...] = ("pga", "ptga", "mmt8", "haq", "enzyme", "extramuscular")


def rules_path(name: str) -> Path:
    """Path of a bundled rules file, e.g. ``rules_path("tis_2016.toml")``."""
    return Path(str(resources.files("myotrial.rules").joinpath(name)))


def bundled_toml_names(package: str) -> list[str]:
    """Names (without ``.toml``) of the TOML files shipped in ``package``."""
    folder = resources.files(package)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def resolve_toml(name_or_path: str | Path, package: str, kind: str) -> Path:
    """A ``.toml`` path as given, or the file of that name shipped in ``package``.

    Raises :class:`RulesError` listing the bundled names when neither exists.
    """
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return p
    bundled = Path(str(resources.files(package).joinpath(f"{p}.toml")))
    if not bundled.exists():
        raise RulesError(
            f"unknown {kind} {str(name_or_path)!r}: give a .toml file or one of "
            f"{', '.join(bundled_toml_names(package))}"
        )
    return bundled


def _read(path: Path | str | None, default: str) -> tuple[dict[str, Any], Path]:
    p = Path(path) if path is not None else rules_path(default)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh), p
    except FileNotFoundError as exc:
        raise RulesError(f"{p}: rules file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{p}: not valid TOML ({exc})") from exc


def _num(value: Any, where: str) -> float:
    if isinstance(value, str) and value in ("-inf", "inf", "+inf"):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RulesError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _get(table: dict[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise RulesError(f"{where}: missing required field {key!r}")
    return table[key]


# --------------------------------------------------------------------------------------------
# TIS
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """A half-open band ``(lower, upper]`` of absolute percent improvement."""

    criterion: str
    lower: float
    upper: float


@dataclass(frozen=True)
class Slot:
    """One of the six TIS slots: its band set and the points of each band."""

    name: str
    label: str
    band_set: str
    bands: tuple[Band, ...]
    points: tuple[float, ...]

    @property
    def edges(self) -> tuple[float, ...]:
        """Inner band edges (upper bounds of all but the last band)."""
        return tuple(b.upper for b in self.bands[:-1])

    @property
    def max_points(self) -> float:
        return max(self.points)


@dataclass(frozen=True)
class MeasureSet:
    """Which visits-table column fills each TIS slot, and the population it is for."""

    name: str
    label: str
    population: str
    slots: dict[str, str]


@dataclass(frozen=True)
class CategoryThresholds:
    """TIS thresholds (closed lower edges) of the minimal / moderate / major categories."""

    population: str
    minimal: float
    moderate: float
    major: float
    citation: str


@dataclass(frozen=True)
class TISRules:
    """The 2016 ACR/EULAR TIS rules, validated."""

    citation: str
    doi: tuple[str, ...]
    edge_tolerance: float
    slots: dict[str, Slot]
    measure_sets: dict[str, MeasureSet]
    categories: dict[str, CategoryThresholds]
    source: Path = field(compare=False)

    def measure_set_for(self, population: str, measure_set: str = "imacs") -> MeasureSet:
        """The measure set ``{measure_set}_{population}``, e.g. ``imacs_adult``."""
        key = f"{measure_set}_{population}"
        if key not in self.measure_sets:
            valid = ", ".join(sorted(self.measure_sets))
            raise ValueError(
                f"no measure set {measure_set!r} for population {population!r}; valid: {valid}"
            )
        return self.measure_sets[key]


def _validate_bands(raw: Any, where: str) -> tuple[Band, ...]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise RulesError(f"{where}: expected a list of at least two bands")
    bands = tuple(
        Band(
            criterion=str(_get(b, "criterion", f"{where}[{i}]")),
            lower=_num(_get(b, "lower", f"{where}[{i}]"), f"{where}[{i}].lower"),
            upper=_num(_get(b, "upper", f"{where}[{i}]"), f"{where}[{i}].upper"),
        )
        for i, b in enumerate(raw)
    )
    if bands[0].lower != -math.inf:
        raise RulesError(f"{where}: the first band must start at -inf (worsening scores 0)")
    if bands[-1].upper != math.inf:
        raise RulesError(f"{where}: the last band must end at inf")
    for i, band in enumerate(bands):
        if not band.lower < band.upper:
            raise RulesError(f"{where}[{i}] {band.criterion!r}: lower must be below upper")
        if i and band.lower != bands[i - 1].upper:
            kind = "gap" if band.lower > bands[i - 1].upper else "overlap"
            raise RulesError(
                f"{where}: {kind} between band {i - 1} (upper {bands[i - 1].upper}) and "
                f"band {i} (lower {band.lower})"
            )
    return bands


@cache
def _load_tis_rules_cached(path: str | None) -> TISRules:
    data, source = _read(path, "tis_2016.toml")
    where = str(source)
    meta = _get(data, "meta", where)
    if meta.get("edge_rule") != "lower_band":
        raise RulesError(f"{where}: meta.edge_rule must be 'lower_band' (half-open (a, b] bands)")
    tolerance = _num(_get(meta, "edge_tolerance", f"{where} meta"), f"{where} meta.edge_tolerance")
    if not 0 <= tolerance < 1e-3:
        raise RulesError(f"{where}: meta.edge_tolerance must be in [0, 1e-3), got {tolerance}")
    band_sets = {
        name: _validate_bands(raw, f"{where} band_sets.{name}")
        for name, raw in _get(data, "band_sets", where).items()
    }
    slots: dict[str, Slot] = {}
    raw_slots = _get(data, "slots", where)
    if tuple(sorted(raw_slots)) != tuple(sorted(SLOTS)):
        raise RulesError(
            f"{where}: slots must be exactly {', '.join(SLOTS)}; got {sorted(raw_slots)}"
        )
    for name in SLOTS:
        raw = raw_slots[name]
        w = f"{where} slots.{name}"
        band_set = str(_get(raw, "band_set", w))
        if band_set not in band_sets:
            raise RulesError(f"{w}: unknown band_set {band_set!r}")
        points = tuple(_num(p, f"{w}.points") for p in _get(raw, "points", w))
        bands = band_sets[band_set]
        if len(points) != len(bands):
            raise RulesError(f"{w}: {len(points)} points for {len(bands)} bands")
        if points[0] != 0:
            raise RulesError(f"{w}: the worsening band must score 0, got {points[0]}")
        if any(b < a for a, b in pairwise(points)):
            raise RulesError(f"{w}: points must not decrease across bands: {points}")
        slots[name] = Slot(name, str(_get(raw, "label", w)), band_set, bands, points)
    total = sum(s.max_points for s in slots.values())
    if not math.isclose(total, 100.0):
        raise RulesError(f"{where}: slot maxima must sum to 100, got {total}")
    measure_sets = {}
    for name, raw in _get(data, "measure_sets", where).items():
        w = f"{where} measure_sets.{name}"
        mapping = dict(_get(raw, "slots", w))
        if tuple(sorted(mapping)) != tuple(sorted(SLOTS)):
            raise RulesError(f"{w}: must map every slot {SLOTS}")
        measure_sets[name] = MeasureSet(
            name, str(_get(raw, "label", w)), str(_get(raw, "population", w)), mapping
        )
    categories = {}
    for pop, raw in _get(data, "categories", where).items():
        w = f"{where} categories.{pop}"
        cat = CategoryThresholds(
            pop,
            _num(_get(raw, "minimal", w), w),
            _num(_get(raw, "moderate", w), w),
            _num(_get(raw, "major", w), w),
            str(_get(raw, "citation", w)),
        )
        if not 0 < cat.minimal < cat.moderate < cat.major <= 100:
            raise RulesError(f"{w}: thresholds must satisfy 0 < minimal < moderate < major <= 100")
        categories[pop] = cat
    for ms in measure_sets.values():
        if ms.population not in categories:
            raise RulesError(
                f"{where}: measure set {ms.name} has unknown population {ms.population}"
            )
    doi = meta.get("doi", [])
    return TISRules(
        citation=str(_get(meta, "citation", f"{where} meta")),
        doi=tuple(doi) if isinstance(doi, list) else (str(doi),),
        edge_tolerance=tolerance,
        slots=slots,
        measure_sets=measure_sets,
        categories=categories,
        source=source,
    )


def load_tis_rules(path: str | Path | None = None) -> TISRules:
    """Load and validate the TIS rules (bundled ``tis_2016.toml`` unless ``path`` is given)."""
    return _load_tis_rules_cached(None if path is None else str(path))


# --------------------------------------------------------------------------------------------
# Measure scales
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeasureScale:
    """Scale of one measure: direction and range (fixed, per-row column, or user option)."""

    name: str
    label: str
    direction: str
    min: float | None
    max: float | None
    max_column: str | None = None
    default_max: float | None = None
    range_required_option: str | None = None

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher_better"


@dataclass(frozen=True)
class Scales:
    """All measure scales and the enzyme list (in tie-break order)."""

    measures: dict[str, MeasureScale]
    enzymes: tuple[str, ...]
    enzyme_labels: dict[str, str]
    source: Path = field(compare=False)


@cache
def _load_scales_cached(path: str | None) -> Scales:
    data, source = _read(path, "measures.toml")
    where = str(source)
    measures = {}
    for name, raw in _get(data, "measures", where).items():
        w = f"{where} measures.{name}"
        direction = str(_get(raw, "direction", w))
        if direction not in ("lower_better", "higher_better"):
            raise RulesError(f"{w}: direction must be lower_better or higher_better")
        lo = raw.get("min")
        hi = raw.get("max")
        scale = MeasureScale(
            name=name,
            label=str(_get(raw, "label", w)),
            direction=direction,
            min=None if lo is None else _num(lo, f"{w}.min"),
            max=None if hi is None else _num(hi, f"{w}.max"),
            max_column=raw.get("max_column"),
            default_max=None if raw.get("default_max") is None else _num(raw["default_max"], w),
            range_required_option=raw.get("range_required_option"),
        )
        if scale.max is None and scale.max_column is None and scale.range_required_option is None:
            raise RulesError(f"{w}: needs max, max_column or range_required_option")
        if scale.min is not None and scale.max is not None and not scale.min < scale.max:
            raise RulesError(f"{w}: min must be below max")
        measures[name] = scale
    enz = _get(data, "enzymes", where)
    order = tuple(str(e) for e in _get(enz, "order", f"{where} enzymes"))
    if len(set(order)) != len(order) or not order:
        raise RulesError(f"{where} enzymes.order: must list distinct enzymes")
    return Scales(measures, order, dict(enz.get("labels", {})), source)


def load_scales(path: str | Path | None = None) -> Scales:
    """Load the measure scales (bundled ``measures.toml`` unless ``path`` is given)."""
    return _load_scales_cached(None if path is None else str(path))


# --------------------------------------------------------------------------------------------
# IMACS DOI and ProDERM deterioration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DOIRules:
    """IMACS 2004 preliminary definition of improvement."""

    citation: str
    doi: str
    measures: tuple[str, ...]
    improved_pct: float
    min_improved: int
    worse_pct: float
    max_worse: int
    no_worse_measures: tuple[str, ...]


@cache
def _load_doi_cached(path: str | None) -> DOIRules:
    data, source = _read(path, "imacs_doi_2004.toml")
    where = str(source)
    meta, rule = _get(data, "meta", where), _get(data, "rule", where)
    measures = tuple(str(m) for m in _get(rule, "measures", where))
    if not set(measures) <= set(SLOTS):
        raise RulesError(f"{where}: DOI measures must be TIS slots, got {measures}")
    out = DOIRules(
        citation=str(_get(meta, "citation", where)),
        doi=str(_get(meta, "doi", where)),
        measures=measures,
        improved_pct=_num(_get(rule, "improved_pct", where), where),
        min_improved=int(_get(rule, "min_improved", where)),
        worse_pct=_num(_get(rule, "worse_pct", where), where),
        max_worse=int(_get(rule, "max_worse", where)),
        no_worse_measures=tuple(_get(rule, "no_worse_measures", where)),
    )
    if not 0 < out.min_improved <= len(measures) or not 0 <= out.max_worse <= len(measures):
        raise RulesError(f"{where}: counts out of range for {len(measures)} measures")
    return out


def load_doi_rules(path: str | Path | None = None) -> DOIRules:
    """Load the IMACS 2004 DOI rules (bundled ``imacs_doi_2004.toml`` unless ``path``)."""
    return _load_doi_cached(None if path is None else str(path))


@dataclass(frozen=True)
class DeteriorationRules:
    """ProDERM deterioration clauses A/B/C and the confirmation parameters (defaults)."""

    citation: str
    pga_worse_cm: float
    mmt8_worse_pct: float
    extramuscular_worse_cm: float
    clause_c_measures: tuple[str, ...]
    clause_c_worse_pct: float
    clause_c_min_worse: int
    consecutive_visits: int
    earliest_week: float
    verbatim: dict[str, str]


@cache
def _load_deterioration_cached(path: str | None) -> DeteriorationRules:
    data, source = _read(path, "proderm_deterioration.toml")
    w = str(source)
    a, b, c = _get(data, "clause_a", w), _get(data, "clause_b", w), _get(data, "clause_c", w)
    conf = _get(data, "confirmation", w)
    measures = tuple(str(m) for m in _get(c, "measures", w))
    if not set(measures) <= set(SLOTS) or "enzyme" in measures:
        raise RulesError(f"{w}: clause C measures must be non-enzyme TIS slots, got {measures}")
    out = DeteriorationRules(
        citation=str(_get(_get(data, "meta", w), "citation", w)),
        pga_worse_cm=_num(_get(a, "pga_worse_cm", w), w),
        mmt8_worse_pct=_num(_get(a, "mmt8_worse_pct", w), w),
        extramuscular_worse_cm=_num(_get(b, "extramuscular_worse_cm", w), w),
        clause_c_measures=measures,
        clause_c_worse_pct=_num(_get(c, "worse_pct", w), w),
        clause_c_min_worse=int(_get(c, "min_worse", w)),
        consecutive_visits=int(_get(conf, "consecutive_visits", w)),
        earliest_week=_num(_get(conf, "earliest_week", w), w),
        verbatim={
            k: str(data[k].get("verbatim", "")) for k in ("clause_a", "clause_b", "clause_c")
        },
    )
    if out.consecutive_visits < 1:
        raise RulesError(f"{w}: consecutive_visits must be >= 1")
    if not 0 < out.clause_c_min_worse <= len(measures):
        raise RulesError(f"{w}: clause_c.min_worse out of range")
    return out


def load_deterioration_rules(path: str | Path | None = None) -> DeteriorationRules:
    """Load the ProDERM deterioration rules (bundled unless ``path`` is given)."""
    return _load_deterioration_cached(None if path is None else str(path))
