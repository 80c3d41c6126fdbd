"""The study's data-collection catalogue: forms, fields and events, built from the protocol and
the rules data (never written again here).

One catalogue drives every interchange format: the REDCap data dictionary and event mapping,
the CDISC ODM study metadata (forms, items, code lists), and the importers' checks (types,
ranges, choices). Each field is a column of a canonical table (``reference/data-format.md``):

* ``enrolment`` -> ``subjects`` (arm codes from the protocol; antibody groups, sex from the
  shared vocabularies; disposition flags of ``myotrial.tables.subjects``);
* ``screening`` -> ``screening`` (criteria columns from ``rules/eligibility_proderm.toml``,
  ``bohan_peter_1975.toml``, ``eular_acr_2017.toml``; measures as on the visit form);
* ``core_set`` -> ``visits`` (the protocol's measure set from ``rules/tis_2016.toml``, enzymes and
  ULNs and scale ranges from ``rules/measures.toml``, CDASI); one event per week of the
  protocol's ``[schedule] assessment_weeks``;
* ``infusions`` and ``adverse_events`` (repeating) -> the safety tables (products = the
  protocol's arms; dose up to the protocol dose; cycle up to the protocol's total cycles).

Events: ``screening`` (enrolment, screening), ``week_<N>`` for each assessment week (core set,
``visit_week = N``; day offset 7 x N, window from ``[schedule] visit_window_days``) and ``logs``
(repeating infusions and adverse events).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from myotrial.eligibility import (
    load_bohan_peter_rules,
    load_eligibility_rules,
    load_eular_acr_rules,
)
from myotrial.protocol import Protocol
from myotrial.rules import load_scales, load_tis_rules
from myotrial.tables.subjects import BOOLEAN_SUBJECT_COLUMNS
from myotrial.tables.vocabularies import VOCABULARIES

__all__ = [
    "EVENT_LOGS",
    "EVENT_SCREENING",
    "Catalogue",
    "Event",
    "Field",
    "FieldKind",
    "Form",
    "build_catalogue",
]

FieldKind = Literal["text", "integer", "number", "date", "datetime", "boolean", "choice"]
EVENT_SCREENING = "screening"
EVENT_LOGS = "logs"


@dataclass(frozen=True)
class Field:
    """One collected field = one column of a canonical table.

    ``name`` is the exchange name (REDCap variable, ODM item name), unique across forms;
    ``column`` the canonical column; ``show_if`` a field whose value must be non-blank (or one
    of ``show_if_values``) for this field to apply (REDCap branching logic).
    """

    name: str
    column: str
    form: str
    kind: FieldKind
    label: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[tuple[str, str], ...] = ()
    unit: str = ""
    note: str = ""
    required: bool = False
    show_if: str | None = None
    show_if_values: tuple[str, ...] = ()
    identifier: bool = False


@dataclass(frozen=True)
class Form:
    """A data-collection form (REDCap instrument, ODM FormDef) filling one canonical table."""

    name: str
    label: str
    table: str
    repeating: bool
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Event:
    """A study event; ``week`` is the visit week of an assessment event (else ``None``)."""

    name: str
    label: str
    week: int | None
    forms: tuple[str, ...]
    day_offset: int
    window_days: int


@dataclass(frozen=True)
class Catalogue:
    protocol: Protocol
    record_id: str
    forms: tuple[Form, ...]
    events: tuple[Event, ...]

    @property
    def fields(self) -> tuple[Field, ...]:
        return tuple(f for form in self.forms for f in form.fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def form(self, name: str) -> Form:
        for form in self.forms:
            if form.name == name:
                return form
        raise KeyError(name)

    def event(self, name: str) -> Event:
        for ev in self.events:
            if ev.name == name:
                return ev
        raise KeyError(name)

    def event_for_week(self, week: int) -> Event | None:
        for ev in self.events:
            if ev.week == week:
                return ev
        return None

    def form_of_table(self, table: str) -> Form:
        for form in self.forms:
            if form.table == table:
                return form
        raise KeyError(table)


def _vocabulary(name: str) -> tuple[str, ...]:
    """Codes of a shared vocabulary (``myotrial/tables/vocabularies.toml``)."""
    return VOCABULARIES[name].codes


_SEX_LABELS = {"F": "Female", "M": "Male", "U": "Unknown"}


def _codes(
    codes: tuple[str, ...], labels: dict[str, str] | None = None
) -> tuple[tuple[str, str], ...]:
    labels = labels or {}
    return tuple((c, labels.get(c, c.replace("_", " "))) for c in codes)


def _measure_fields(
    protocol: Protocol, form: str, prefix: str, label_prefix: str = ""
) -> list[Field]:
    """Core set measures of the protocol's measure set, enzymes + ULNs, skin scores."""
    scales = load_scales()
    tis = load_tis_rules()
    mset = tis.measure_set_for(protocol.population, protocol.measure_set)
    columns: list[str] = []
    for slot_column in mset.slots.values():
        if slot_column == "enzyme":
            continue
        columns.append(slot_column)
        if slot_column == "mmt8":
            columns.append("mmt8_max")
    columns += [c for c in ("cdasi_activity", "cdasi_damage") if c in scales.measures]
    out: list[Field] = []
    for col in columns:
        if col == "mmt8_max":
            out.append(
                Field(
                    f"{prefix}mmt8_max",
                    "mmt8_max",
                    form,
                    "number",
                    f"{label_prefix}MMT-8 maximum possible score",
                    minimum=1.0,
                    maximum=None,
                    unit="points",
                    note=f"blank = the protocol's scale ({protocol.mmt8_max:g})",
                )
            )
            continue
        sc = scales.measures[col]
        hi = sc.max
        note = ""
        if sc.max_column is not None:
            hi = None
            note = f"0 to {sc.max_column} (default {sc.default_max or protocol.mmt8_max:g})"
        elif sc.range_required_option is not None:
            note = f"scale range given as option {sc.range_required_option}"
        out.append(
            Field(f"{prefix}{col}", col, form, "number", f"{label_prefix}{sc.label}", sc.min, hi,
                  note=note)
        )
    for enz in scales.enzymes:
        label = scales.enzyme_labels.get(enz, enz)
        out.append(Field(f"{prefix}{enz}", enz, form, "number", f"{label_prefix}{label} (U/L)", 0.0,
                  unit="U/L"))
        out.append(
            Field(
                f"{prefix}{enz}_uln",
                f"{enz}_uln",
                form,
                "number",
                f"{label_prefix}{label}: upper limit of normal (U/L)",
                0.0,
                unit="U/L",
                note="required when the enzyme is given; > 0",
                show_if=f"{prefix}{enz}",
            )
        )
    return out


def _build(protocol: Protocol) -> Catalogue:
    arms = tuple((a.code, a.label) for a in protocol.arms)
    policy = protocol.policy
    yes_no: FieldKind = "boolean"
    sex = _codes(_vocabulary("sex"), _SEX_LABELS)
    record_id = "subject_id"

    enrolment: list[Field] = [
        Field(record_id, "subject_id", "enrolment", "text", "Subject ID", required=True,
              identifier=False),
        Field("site_id", "site_id", "enrolment", "text", "Site"),
        Field("randomised", "randomised", "enrolment", yes_no, "Randomised?"),
        Field("randomisation_date", "randomisation_date", "enrolment", "date",
              "Date of randomisation", show_if="randomised", show_if_values=("1",)),
        Field("arm", "arm", "enrolment", "choice", "Arm as randomised", choices=arms,
              show_if="randomised", show_if_values=("1",)),
        Field("age", "age", "enrolment", "integer", "Age (years)", 0.0, unit="years"),
        Field("sex", "sex", "enrolment", "choice", "Sex", choices=sex),
        Field("msa_group", "msa_group", "enrolment", "choice", "Antibody group",
              choices=_codes(_vocabulary("msa_group"))),
    ]
    switching = policy.switching_arms
    enrolment.append(
        Field("crossover_week", "crossover_week", "enrolment", "integer",
              "Week of crossover after confirmed deterioration", 0.0,
              float(policy.randomised_end_week), unit="weeks",
              show_if="arm", show_if_values=switching)
    )
    for col in BOOLEAN_SUBJECT_COLUMNS:
        if col == "randomised":
            continue
        enrolment.append(
            Field(col, col, "enrolment", yes_no, col.replace("_", " ").capitalize() + "?")
        )
    enrolment.append(
        Field("discontinuation_reason", "discontinuation_reason", "enrolment", "text",
              "Reason for discontinuation")
    )

    elig = load_eligibility_rules()
    bp = load_bohan_peter_rules()
    eular = load_eular_acr_rules()
    s = "scr_"
    screening: list[Field] = [
        Field(f"{s}age", elig.age_column, "screening", "number", "Age at screening (years)",
              0.0, unit="years"),
        Field(f"{s}sex", "sex", "screening", "choice", "Sex (screening)", choices=sex),
        Field(f"{s}{elig.bmi_column}", elig.bmi_column, "screening", "number",
              "Body-mass index (kg/m2)", 0.0, unit="kg/m2"),
    ]
    for c in bp.criteria:
        screening.append(Field(f"{s}{c.column}", c.column, "screening", yes_no, c.words))
    screening.append(
        Field(f"{s}{bp.exclusion_column}", bp.exclusion_column, "screening", yes_no,
              "Bohan and Peter exclusion present (other myopathy)")
    )
    for col in elig.therapy_columns:
        screening.append(
            Field(f"{s}{col}", col, "screening", yes_no, f"{elig.therapy_words} ({col})")
        )
    for crit in (*elig.exclusions, *elig.optional_inclusions):
        screening.append(Field(f"{s}{crit.column}", crit.column, "screening", yes_no, crit.words))
    screening.append(
        Field(f"{s}{eular.age.column}", eular.age.column, "screening", "number",
              "Age at onset of first symptom (years)", 0.0, unit="years")
    )
    for item in eular.items:
        screening.append(Field(f"{s}{item.key}", item.key, "screening", yes_no, item.words))
    screening += _measure_fields(protocol, "screening", s, "Screening: ")

    visit: list[Field] = [
        Field("visit_date", "visit_date", "core_set", "date", "Visit date"),
        *_measure_fields(protocol, "core_set", ""),
    ]

    d = protocol.dosing
    i = "inf_"
    infusions: list[Field] = [
        Field(f"{i}start", "start", "infusions", "datetime", "Infusion start", required=True),
        Field(f"{i}end", "end", "infusions", "datetime", "Infusion end"),
        Field(f"{i}product", "product", "infusions", "choice", "Product infused",
              choices=_codes(_vocabulary("product"),
                             {a.code: a.label for a in protocol.arms})),
        Field(f"{i}dose_g_per_kg", "dose_g_per_kg", "infusions", "number",
              "Dose this day (g/kg)", 0.0, d.dose_g_per_kg, unit="g/kg"),
        Field(f"{i}rate_ml_per_kg_min", "rate_ml_per_kg_min", "infusions", "number",
              "Highest infusion rate (mL/kg/min)", 0.0, None, unit="mL/kg/min",
              note=f"protocol maximum {d.max_rate_ml_per_kg_min:g} (above is flagged, "
              "not rejected)"),
        Field(f"{i}cycle", "cycle", "infusions", "integer", "Infusion cycle", 1.0,
              float(d.total_cycles)),
    ]
    a = "ae_"
    adverse: list[Field] = [
        Field(f"{a}term", "term", "adverse_events", "text", "Adverse event term", required=True),
        Field(f"{a}body_system", "body_system", "adverse_events", "text", "Body system (SOC)"),
        Field(f"{a}onset", "onset", "adverse_events", "datetime", "Onset", required=True),
        Field(f"{a}end", "end", "adverse_events", "datetime", "End"),
        Field(f"{a}serious", "serious", "adverse_events", yes_no, "Serious?"),
        Field(f"{a}severity", "severity", "adverse_events", "choice", "Severity",
              choices=_codes(_vocabulary("severity"))),
        Field(f"{a}related", "related", "adverse_events", yes_no, "Related to study product?"),
        Field(f"{a}thromboembolic", "thromboembolic", "adverse_events", yes_no,
              "Thromboembolic event?"),
    ]
    forms = (
        Form("enrolment", "Enrolment and disposition", "subjects", False, tuple(enrolment)),
        Form("screening", "Screening and eligibility", "screening", False, tuple(screening)),
        Form("core_set", "Core set measures", "visits", False, tuple(visit)),
        Form("infusions", "Infusions", "infusions", True, tuple(infusions)),
        Form("adverse_events", "Adverse events", "adverse_events", True, tuple(adverse)),
    )
    window = protocol.visit_window_days
    events = [Event(EVENT_SCREENING, "Screening", None, ("enrolment", "screening"), 0, 0)]
    for w in protocol.assessment_weeks:
        events.append(
            Event(f"week_{w}", f"Week {w}", w,
                  ("core_set",), 7 * w, 0 if w == 0 else window)
        )
    events.append(Event(EVENT_LOGS, "Logs", None,
                        ("infusions", "adverse_events"), 0, 0))
    names = [f.name for form in forms for f in form.fields]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:  # a programming error, never user input
        raise RuntimeError(f"catalogue field names are not unique: {dup}")
    return Catalogue(protocol, record_id, forms, tuple(events))


def build_catalogue(protocol: Protocol) -> Catalogue:
    """The forms, fields and events of ``protocol``."""
    return _build(protocol)
