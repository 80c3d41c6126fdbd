"""Simulation scenarios: the generative model's parameters as data (TOML), validated on load.

A scenario file (``myotrial/simulate/scenarios/proderm.toml`` is the calibrated ProDERM one)
has a ``[scenario]`` table (name, protocol, data-source label), a ``[design]`` table (arm sizes
and calendar) and numeric parameter tables ``[baseline]``, ``[response]``, ``[flare]``,
``[dropout]``, ``[safety]``. Every numeric parameter is addressed as ``"table.key"`` (e.g.
``"response.pga_drug"``); :meth:`Scenario.with_params` returns a copy with some replaced.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from myotrial.errors import RulesError
from myotrial.protocol import load_protocol
from myotrial.rules import bundled_toml_names, resolve_toml
from myotrial.tomlfile import MISSING, TomlTable, read_toml

__all__ = [
    "ANTIBODY_GROUPS",
    "CANONICAL_MSA_GROUP",
    "MSA_GROUPS",
    "PARAMETER_TABLES",
    "Scenario",
    "available_scenarios",
    "load_scenario",
    "scenario_from_table",
    "write_scenario_params",
]

#: The simulator's antibody groups, in the order of the scenario's ``baseline.msa_*``: the five
#: DM-specific antibodies separately, then antisynthetase, IMNM-associated, myositis-associated
#: only, and seronegative. Each has its own share and its own IVIG-effect multiplier.
ANTIBODY_GROUPS = (
    "anti_tif1_gamma",
    "anti_nxp2",
    "anti_mi2",
    "anti_mda5",
    "anti_sae",
    "antisynthetase",
    "imnm",
    "maa_only",
    "seronegative",
)
#: The canonical ``subjects.msa_group`` code of each simulator group (tables are written with
#: the canonical vocabulary: ``dm_specific``, ``antisynthetase``, ``imnm``, ``maa_only``,
#: ``negative``).
CANONICAL_MSA_GROUP = {
    "anti_tif1_gamma": "dm_specific",
    "anti_nxp2": "dm_specific",
    "anti_mi2": "dm_specific",
    "anti_mda5": "dm_specific",
    "anti_sae": "dm_specific",
    "antisynthetase": "antisynthetase",
    "imnm": "imnm",
    "maa_only": "maa_only",
    "seronegative": "negative",
}
#: Deprecated name of :data:`ANTIBODY_GROUPS` (the simulator's groups, not the table codes).
MSA_GROUPS = ANTIBODY_GROUPS

#: Tables whose entries are numeric model parameters.
PARAMETER_TABLES = ("baseline", "response", "flare", "dropout", "safety", "missing")

#: Parameters every scenario must define (the model reads each one).
REQUIRED: dict[str, list[str]] = {
    "baseline": [
        "age_mean",
        "age_sd",
        "female",
        "weight_mean",
        "weight_sd",
        "weight_min",
        "weight_max",
        "pga_mean",
        "pga_sd",
        "ptga_mean",
        "ptga_sd",
        "extramuscular_mean",
        "extramuscular_sd",
        "mmt8_deficit_median",
        "mmt8_deficit_sdlog",
        "haq_mean",
        "haq_sd",
        "ck_ratio_median",
        "ck_ratio_sdlog",
        "aldolase_ratio_median",
        "aldolase_ratio_sdlog",
        "cdasi_mean",
        "cdasi_sd",
        "corr_core",
        "corr_enzymes",
        "corr_skin",
        "z_truncation",
        *(f"msa_{g}" for g in ANTIBODY_GROUPS),
    ],
    "response": (
        [
            f"{m}_{k}"
            for m in ("pga", "ptga", "extramuscular", "mmt8", "haq", "enzyme", "cdasi")
            for k in ("placebo", "placebo_sd", "drug", "drug_sd")
        ]
        + [
            "factor_loading",
            "tau_placebo",
            "tau_drug",
            "extension_gain",
            "noise_sd",
            "noise_ar",
            "enzyme_lab_cv",
            "mmt8_deficit_cap",
            "enzyme_ratio_cap",
        ]
    ),
    "flare": [
        "hazard_off_drug",
        "hazard_on_drug",
        "size",
        "size_sd",
        "mmt8_factor",
        "onset_weeks",
        "resolve_weeks",
    ],
    "dropout": ["randomised", "extension", "extension_response_slope"],
    "safety": [
        "frailty_shape",
        "headache_ivig",
        "pyrexia_ivig",
        "nausea_ivig",
        "other_infusional_ivig",
        "infusional_placebo",
        "background",
        "serious_background",
        "serious_ivig_extra",
        "thromboembolic_ivig",
        "thromboembolic_rate_power",
        "thromboembolic_repeat",
        "reduced_dose_prob",
    ],
    "missing": ["visit", "measure"],
}

#: Parameters that must lie in [0, 1].
_UNIT_INTERVAL = {
    "baseline.female",
    "baseline.corr_core",
    "baseline.corr_enzymes",
    "baseline.corr_skin",
    "response.factor_loading",
    "response.noise_ar",
    "dropout.randomised",
    "safety.thromboembolic_repeat",
    "safety.reduced_dose_prob",
    "missing.visit",
    "missing.measure",
}
#: Parameters that may be negative (logits, slopes, response means).
_SIGNED_PREFIX = ("dropout.extension",)
_SIGNED_SUFFIX = ("_placebo", "_drug", "extension_gain")


@dataclass(frozen=True)
class Scenario:
    """A validated simulation scenario.

    Parameters
    ----------
    name, description : identification.
    protocol : protocol name or TOML path (:func:`myotrial.protocol.load_protocol`).
    data_source : the label written in the ``data_source`` column of every generated table.
    n_per_arm : randomised patients per arm code (e.g. ``{"ivig": 47, "placebo": 48}``).
    enrolment_weeks, start_date, visit_jitter_days : calendar of the synthetic trial.
    params : numeric model parameters keyed ``"table.key"``.
    drug_effect_scale : multiplies every IVIG effect (0 = the null hypothesis of no effect).
    subgroup_effect : multiplier of the IVIG effect per antibody group of
        :data:`ANTIBODY_GROUPS` (absent = 1).
    eligibility : eligibility rules file (None = the shipped ProDERM rules).
    overrides : ``"file: [table] key"`` of every value a file changed from its base
        (provenance, written to ``run.json``).
    """

    name: str
    description: str
    protocol: str
    data_source: str
    n_per_arm: dict[str, int]
    enrolment_weeks: float
    start_date: dt.date
    visit_jitter_days: int
    params: dict[str, float]
    drug_effect_scale: float = 1.0
    subgroup_effect: dict[str, float] = field(default_factory=dict)
    eligibility: str | None = None
    overrides: tuple[str, ...] = field(default=(), compare=False)
    source: Path | None = field(default=None, compare=False)

    def p(self, name: str) -> float:
        """One parameter, e.g. ``scenario.p("response.pga_drug")``."""
        try:
            return self.params[name]
        except KeyError:
            raise KeyError(f"scenario {self.name} has no parameter {name!r}") from None

    def with_params(self, updates: Mapping[str, float] | None = None, **fields: Any) -> Scenario:
        """A copy with some parameters (``"table.key"``) and/or dataclass fields replaced."""
        params = dict(self.params)
        for k, v in (updates or {}).items():
            if k not in params:
                raise KeyError(f"unknown parameter {k!r}; valid: {', '.join(sorted(params))}")
            params[k] = float(v)
        new = replace(self, params=params, **fields)
        _check(new, str(self.source or self.name))
        return new

    def resolved(self) -> dict[str, Any]:
        """Everything that defines the simulated data, after every base and override (JSON)."""
        return {
            "name": self.name,
            "protocol": self.protocol,
            "eligibility": self.eligibility,
            "n_per_arm": dict(self.n_per_arm),
            "enrolment_weeks": self.enrolment_weeks,
            "start_date": self.start_date.isoformat(),
            "visit_jitter_days": self.visit_jitter_days,
            "params": dict(sorted(self.params.items())),
            "drug_effect_scale": self.drug_effect_scale,
            "subgroup_effect": dict(sorted(self.subgroup_effect.items())),
            "data_source": self.data_source,
        }

    def fingerprint(self) -> str:
        """SHA-256 of everything that changes the simulated data (for resumable runs)."""
        data = self.resolved()
        for k in ("name", "data_source"):
            data.pop(k)
        if data["eligibility"] is None:
            data.pop("eligibility")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def available_scenarios() -> list[str]:
    """Names of the scenarios shipped with myotrial (files with a ``[scenario]`` table; the
    protocol and eligibility files a scenario names live beside it)."""
    out = []
    for name in bundled_toml_names("myotrial.simulate.scenarios"):
        try:
            if "scenario" in tomllib.loads(_path(name).read_text(encoding="utf-8")):
                out.append(name)
        except (OSError, tomllib.TOMLDecodeError):  # pragma: no cover - shipped files parse
            continue
    return out


def _path(name_or_path: str | Path) -> Path:
    return resolve_toml(name_or_path, "myotrial.simulate.scenarios", "scenario")


def _beside(value: str, source: Path) -> str:
    """A file named in ``source`` (relative to its folder when it exists there)."""
    if not Path(value).is_absolute() and (source.parent / value).exists():
        return str(source.parent / value)
    return value


def load_scenario(name_or_path: str | Path = "proderm") -> Scenario:
    """Load a scenario by bundled name (``"proderm"``) or TOML path, read strictly.

    A scenario file may start from another one with ``base = "proderm"`` in ``[scenario]``: the
    base is loaded first and the file's own entries replace its values. Every key is checked
    (:mod:`myotrial.tomlfile`): an unknown or misspelt key is an error naming the file, the key
    path and the key probably meant.

    Raises
    ------
    RulesError
        Naming the file and the parameter that is missing, unknown or out of range.
    """
    source = _path(name_or_path)
    root = read_toml(source, "scenario file")
    scen = scenario_from_table(root, source, default_base=None)
    root.finish()
    return scen


def scenario_from_table(
    root: TomlTable, source: Path, *, default_base: str | None, _depth: int = 0
) -> Scenario:
    """The scenario of a parsed file's ``[scenario]``, ``[design]``, parameter and
    ``[effects]`` tables (a power design file shares them). Keys read here count as read for
    the caller's :meth:`~myotrial.tomlfile.TomlTable.finish`."""
    meta = root.optional_table("scenario")
    base_name = meta.str("base", default_base)
    base: Scenario | None = None
    if base_name is not None:
        base_path = _path(_beside(str(base_name), source))
        if base_path.resolve() == source.resolve():
            raise meta.error("base", "a scenario cannot be its own base")
        if _depth > 8:
            raise meta.error("base", "bases nest more than 8 deep (a cycle?)")
        base_root = read_toml(base_path, "scenario file")
        base = scenario_from_table(base_root, base_path, default_base=None, _depth=_depth + 1)
        base_root.finish()
    overrides: list[str] = list(base.overrides) if base is not None else []

    def note(table: TomlTable, key: str) -> None:
        if key in table:
            overrides.append(f"{table.where(key)} = {table.data[key]!r}")

    def text(key: str, fallback: str | None) -> str:
        value = meta.str(key, MISSING if fallback is None else fallback)
        if base is not None:
            note(meta, key)
        return str(value)

    name = text("name", base.name if base is not None else None)
    description = text("description", base.description if base is not None else "")
    protocol = _beside(text("protocol", base.protocol if base is not None else "proderm"), source)
    data_source = text("data_source", base.data_source if base is not None else None)
    elig = meta.str("eligibility", None)
    eligibility = (
        _beside(str(elig), source) if elig is not None else (base.eligibility if base else None)
    )
    if base is not None:
        note(meta, "eligibility")
    meta.documentation("notes")
    try:
        proto = load_protocol(protocol)
    except RulesError as exc:
        raise meta.error("protocol", str(exc)) from None
    arms = proto.arm_codes

    design = root.optional_table("design")
    n_per_arm = {
        a: design.int(f"n_{a}", base.n_per_arm.get(a, MISSING) if base else MISSING, min=1)
        for a in arms
    }
    enrolment_weeks = design.float(
        "enrolment_weeks", base.enrolment_weeks if base else 104.0, min=0.0
    )
    start_raw = design.str("start_date", base.start_date.isoformat() if base else "2017-02-01")
    try:
        start_date = dt.date.fromisoformat(start_raw)
    except ValueError:
        raise design.error("start_date", f"= {start_raw!r} is not an ISO date") from None
    jitter = design.int("visit_jitter_days", base.visit_jitter_days if base else 3, min=0)
    if base is not None:
        for key in list(design.data):
            note(design, key)

    params = dict(base.params) if base is not None else {}
    for t in PARAMETER_TABLES:
        tbl = root.optional_table(t)
        for key in REQUIRED[t]:
            got = tbl.float(key, None, allow_infinite=False)
            if got is not None:
                params[f"{t}.{key}"] = float(got)
                if base is not None:
                    note(tbl, key)
            elif base is None:
                raise tbl.error(None, f"missing required parameter {key!r}")

    effects = root.optional_table("effects")
    scale = effects.float("drug_effect_scale", base.drug_effect_scale if base else 1.0, min=0.0)
    sub = effects.optional_table("subgroup")
    subgroup = dict(base.subgroup_effect) if base is not None else {}
    for g in ANTIBODY_GROUPS:
        got = sub.float(g, None, min=0.0)
        if got is not None:
            subgroup[g] = float(got)
    if base is not None:
        for key in list(effects.data):
            if key != "subgroup":
                note(effects, key)
        for key in list(sub.data):
            note(sub, key)

    scen = Scenario(
        name=name,
        description=description,
        protocol=protocol,
        data_source=data_source,
        n_per_arm=n_per_arm,
        enrolment_weeks=float(enrolment_weeks),
        start_date=start_date,
        visit_jitter_days=int(jitter),
        params=params,
        drug_effect_scale=float(scale),
        subgroup_effect=subgroup,
        eligibility=eligibility,
        overrides=tuple(overrides),
        source=source,
    )
    _check(scen, str(source))
    return scen


def _check(s: Scenario, where: str) -> None:
    missing = [
        f"[{t}] {k}" for t, keys in REQUIRED.items() for k in keys if f"{t}.{k}" not in s.params
    ]
    if missing:
        raise RulesError(f"{where}: missing parameter(s) {', '.join(missing)}")
    known = {f"{t}.{k}" for t, keys in REQUIRED.items() for k in keys}
    unknown = sorted(set(s.params) - known)
    if unknown:
        raise RulesError(f"{where}: unknown parameter(s) {', '.join(unknown)}")
    for k, v in s.params.items():
        signed = k.startswith(_SIGNED_PREFIX) or k.endswith(_SIGNED_SUFFIX)
        if v != v or (not signed and v < 0):
            raise RulesError(f"{where}: {k} = {v} must be a number >= 0")
        if k in _UNIT_INTERVAL and not 0 <= v <= 1:
            raise RulesError(f"{where}: {k} = {v} must lie in [0, 1]")
    for arm, n in s.n_per_arm.items():
        if n < 1:
            raise RulesError(f"{where}: n_{arm} = {n} must be >= 1")
    if s.drug_effect_scale < 0:
        raise RulesError(f"{where}: drug_effect_scale must be >= 0")
    bad = sorted(set(s.subgroup_effect) - set(ANTIBODY_GROUPS))
    if bad:
        raise RulesError(f"{where}: unknown subgroup(s) {bad}; valid: {', '.join(ANTIBODY_GROUPS)}")
    msa = sum(v for k, v in s.params.items() if k.startswith("baseline.msa_"))
    if abs(msa - 1.0) > 0.01:
        raise RulesError(f"{where}: the baseline.msa_* proportions sum to {msa:.3f}, not 1")


_LINE = re.compile(r"^(?P<key>[A-Za-z0-9_]+)(?P<sp1>\s*=\s*)(?P<val>[-+0-9.eE]+)(?P<rest>.*)$")


def write_scenario_params(path: str | Path, params: Mapping[str, float], digits: int = 4) -> Path:
    """Rewrite the values of ``params`` (``"table.key"``) in a scenario TOML, keeping comments.

    Used by ``scripts/calibrate.py`` to store fitted parameters beside their explanations.
    """
    p = Path(path)
    lines = p.read_text(encoding="utf-8").splitlines()
    table = ""
    seen: set[str] = set()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            table = stripped.strip("[]").strip()
            continue
        m = _LINE.match(line)
        if not m:
            continue
        key = f"{table}.{m['key']}"
        if key in params:
            value = f"{float(params[key]):.{digits}g}"
            if "." not in value and "e" not in value:
                value += ".0"
            old = m["key"] + m["sp1"] + m["val"]
            new = m["key"] + m["sp1"] + value
            rest = m["rest"]
            if "#" in rest and len(new) < len(old):  # keep comments aligned where possible
                rest = " " * (len(old) - len(new)) + rest
            elif "#" in rest and len(new) > len(old):
                rest = rest[min(len(new) - len(old), len(rest) - len(rest.lstrip())) - 1 :]
                rest = " " + rest.lstrip() if not rest.startswith(" ") else rest
            lines[i] = new + rest
            seen.add(key)
    missing = sorted(set(params) - seen)
    if missing:
        raise KeyError(f"{p}: no line for parameter(s) {', '.join(missing)}")
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p
