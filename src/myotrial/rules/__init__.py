"""Published scoring rules as data, with their citations, and the loaders that validate them.

The TOML files beside this module are the single home of every published table and threshold
(TIS points, response categories, measure ranges, IMACS 2004 DOI, ProDERM deterioration). Each
file names its source and separates PUBLISHED facts from PROJECT RULES (our documented
interpretations; see ``shared/reference/response-criteria.md``). Loaders reject malformed files:
band gaps or overlaps, non-increasing edges, decreasing points, maxima not summing to 100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from itertools import pairwise
from pathlib import Path

from myotrial.errors import RulesError
from myotrial.tomlfile import TomlTable, read_toml

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


def _open(path: Path | str | None, default: str, kind: str) -> TomlTable:
    """The rules file ``path`` (or the bundled ``default``), read strictly."""
    return read_toml(Path(path) if path is not None else rules_path(default), kind)


def _edge_number(table: TomlTable, key: str) -> float:
    """A band edge: a number, or the text ``"-inf"``/``"inf"`` (open ends of the scale)."""
    value = table.raw(key)
    if isinstance(value, str):
        if value in ("-inf", "inf", "+inf"):
            return float(value)
        raise table.error(key, f"must be a number or '-inf'/'inf', got {value!r}")
    number: float = table._number(key, value, None, None, allow_infinite=True)
    return number


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


def _validate_bands(doc: TomlTable, key: str) -> tuple[Band, ...]:
    where = f"{doc.source} band_sets.{key}"
    tables = doc.tables(key)
    if len(tables) < 2:
        raise RulesError(f"{where}: expected a list of at least two bands")
    bands = []
    for t in tables:
        bands.append(Band(t.str("criterion"), _edge_number(t, "lower"), _edge_number(t, "upper")))
        t.documentation("verbatim", "note")
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
    return tuple(bands)


@cache
def _load_tis_rules_cached(path: str | None) -> TISRules:
    doc = _open(path, "tis_2016.toml", "TIS rules file")
    source = doc.source
    where = str(source)
    meta = doc.table("meta")
    meta.documentation("title", "version")
    if meta.str("edge_rule") != "lower_band":
        raise RulesError(f"{where}: meta.edge_rule must be 'lower_band' (half-open (a, b] bands)")
    tolerance = meta.float("edge_tolerance")
    if not 0 <= tolerance < 1e-3:
        raise RulesError(f"{where}: meta.edge_tolerance must be in [0, 1e-3), got {tolerance}")
    citation = meta.str("citation")
    doi_raw = meta.raw("doi", [])
    doi = tuple(doi_raw) if isinstance(doi_raw, list) else (str(doi_raw),)
    band_table = doc.table("band_sets")
    band_sets = {name: _validate_bands(band_table, name) for name in list(band_table.data)}
    slots: dict[str, Slot] = {}
    raw_slots = doc.table("slots")
    if tuple(sorted(raw_slots.keys())) != tuple(sorted(SLOTS)):
        raise RulesError(
            f"{where}: slots must be exactly {', '.join(SLOTS)}; got {sorted(raw_slots.keys())}"
        )
    for name in SLOTS:
        raw = raw_slots.table(name)
        raw.documentation("verbatim", "note")
        w = f"{where} slots.{name}"
        band_set = raw.str("band_set")
        if band_set not in band_sets:
            raise RulesError(f"{w}: unknown band_set {band_set!r}")
        points = raw.float_list("points")
        bands = band_sets[band_set]
        if len(points) != len(bands):
            raise RulesError(f"{w}: {len(points)} points for {len(bands)} bands")
        if points[0] != 0:
            raise RulesError(f"{w}: the worsening band must score 0, got {points[0]}")
        if any(b < a for a, b in pairwise(points)):
            raise RulesError(f"{w}: points must not decrease across bands: {points}")
        slots[name] = Slot(name, raw.str("label"), band_set, bands, points)
    total = sum(s.max_points for s in slots.values())
    if not math.isclose(total, 100.0):
        raise RulesError(f"{where}: slot maxima must sum to 100, got {total}")
    measure_sets = {}
    for name, raw in doc.table("measure_sets").subtables():
        w = f"{where} measure_sets.{name}"
        mapping_table = raw.table("slots")
        mapping = {k: mapping_table.str(k) for k in list(mapping_table.data)}
        if tuple(sorted(mapping)) != tuple(sorted(SLOTS)):
            raise RulesError(f"{w}: must map every slot {SLOTS}")
        measure_sets[name] = MeasureSet(name, raw.str("label"), raw.str("population"), mapping)
    categories = {}
    for pop, raw in doc.table("categories").subtables():
        w = f"{where} categories.{pop}"
        cat = CategoryThresholds(
            pop,
            raw.float("minimal"),
            raw.float("moderate"),
            raw.float("major"),
            raw.str("citation"),
        )
        if not 0 < cat.minimal < cat.moderate < cat.major <= 100:
            raise RulesError(f"{w}: thresholds must satisfy 0 < minimal < moderate < major <= 100")
        categories[pop] = cat
    doc.finish()
    for ms in measure_sets.values():
        if ms.population not in categories:
            raise RulesError(
                f"{where}: measure set {ms.name} has unknown population {ms.population}"
            )
    return TISRules(
        citation=citation,
        doi=doi,
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
    #: the only maxima accepted in ``max_column`` (e.g. MMT-8: 80 or 150); empty: any > 0
    allowed_max: tuple[float, ...] = ()

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
    doc = _open(path, "measures.toml", "measure scales file")
    where = str(doc.source)
    doc.optional_table("meta").documentation("title", "version")
    measures = {}
    for name, raw in doc.table("measures").subtables():
        w = f"{where} measures.{name}"
        raw.documentation("unit")
        direction = raw.str("direction")
        if direction not in ("lower_better", "higher_better"):
            raise RulesError(f"{w}: direction must be lower_better or higher_better")
        scale = MeasureScale(
            name=name,
            label=raw.str("label"),
            direction=direction,
            min=raw.float("min", None),
            max=raw.float("max", None),
            max_column=raw.str("max_column", None),
            default_max=raw.float("default_max", None, min=0.0, min_exclusive=True),
            range_required_option=raw.str("range_required_option", None),
            allowed_max=raw.float_list("allowed_max", (), min=0.0),
        )
        if scale.allowed_max and scale.max_column is None:
            raise RulesError(f"{w}: allowed_max needs max_column")
        if scale.allowed_max and any(m <= 0 for m in scale.allowed_max):
            raise RulesError(f"{w}: allowed_max must be > 0")
        if (
            scale.allowed_max
            and scale.default_max is not None
            and scale.default_max not in scale.allowed_max
        ):
            raise RulesError(f"{w}: default_max must be one of allowed_max")
        if scale.max is None and scale.max_column is None and scale.range_required_option is None:
            raise RulesError(f"{w}: needs max, max_column or range_required_option")
        if scale.min is not None and scale.max is not None and not scale.min < scale.max:
            raise RulesError(f"{w}: min must be below max")
        measures[name] = scale
    enz = doc.table("enzymes")
    enz.documentation("unit")
    order = enz.str_list("order")
    if len(set(order)) != len(order) or not order:
        raise RulesError(f"{where} enzymes.order: must list distinct enzymes")
    label_table = enz.optional_table("labels")
    labels = {k: label_table.str(k) for k in list(label_table.data)}
    doc.finish()
    return Scales(measures, order, labels, doc.source)


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
    doc = _open(path, "imacs_doi_2004.toml", "DOI rules file")
    where = str(doc.source)
    meta, rule = doc.table("meta"), doc.table("rule")
    meta.documentation("title", "verbatim")
    measures = rule.str_list("measures")
    if not set(measures) <= set(SLOTS):
        raise RulesError(f"{where}: DOI measures must be TIS slots, got {measures}")
    out = DOIRules(
        citation=meta.str("citation"),
        doi=meta.str("doi"),
        measures=measures,
        improved_pct=rule.float("improved_pct"),
        min_improved=rule.int("min_improved"),
        worse_pct=rule.float("worse_pct"),
        max_worse=rule.int("max_worse"),
        no_worse_measures=rule.str_list("no_worse_measures"),
    )
    doc.finish()
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
    doc = _open(path, "proderm_deterioration.toml", "deterioration rules file")
    w = str(doc.source)
    meta = doc.table("meta")
    meta.documentation("title")
    a, b, c = doc.table("clause_a"), doc.table("clause_b"), doc.table("clause_c")
    conf = doc.table("confirmation")
    measures = c.str_list("measures")
    if not set(measures) <= set(SLOTS) or "enzyme" in measures:
        raise RulesError(f"{w}: clause C measures must be non-enzyme TIS slots, got {measures}")
    out = DeteriorationRules(
        citation=meta.str("citation"),
        pga_worse_cm=a.float("pga_worse_cm"),
        mmt8_worse_pct=a.float("mmt8_worse_pct"),
        extramuscular_worse_cm=b.float("extramuscular_worse_cm"),
        clause_c_measures=measures,
        clause_c_worse_pct=c.float("worse_pct"),
        clause_c_min_worse=c.int("min_worse"),
        consecutive_visits=conf.int("consecutive_visits"),
        earliest_week=conf.float("earliest_week"),
        verbatim={
            name: str(t.str("verbatim", ""))
            for name, t in zip(("clause_a", "clause_b", "clause_c"), (a, b, c), strict=True)
        },
    )
    doc.finish()
    if out.consecutive_visits < 1:
        raise RulesError(f"{w}: consecutive_visits must be >= 1")
    if not 0 < out.clause_c_min_worse <= len(measures):
        raise RulesError(f"{w}: clause_c.min_worse out of range")
    return out


def load_deterioration_rules(path: str | Path | None = None) -> DeteriorationRules:
    """Load the ProDERM deterioration rules (bundled unless ``path`` is given)."""
    return _load_deterioration_cached(None if path is None else str(path))
