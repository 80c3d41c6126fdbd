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
from myotrial.rules import bundled_toml_names, resolve_toml

__all__ = [
    "PARAMETER_TABLES",
    "Scenario",
    "available_scenarios",
    "load_scenario",
    "write_scenario_params",
]

#: Tables whose entries are numeric model parameters.
PARAMETER_TABLES = ("baseline", "response", "flare", "dropout", "safety")

#: Parameters every scenario must define (the model reads each one).
REQUIRED: dict[str, list[str]] = {
    "baseline": [
        "age_mean",
        "age_sd",
        "female",
        "weight_mean",
        "weight_sd",
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
        "msa_dm_specific",
        "msa_antisynthetase",
        "msa_imnm",
        "msa_maa_only",
        "msa_negative",
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
        ]
    ),
    "flare": ["hazard_off_drug", "hazard_on_drug", "size", "size_sd", "mmt8_factor", "onset_weeks"],
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
    subgroup_effect : multiplier of the IVIG effect per ``msa_group`` (absent = 1).
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

    def fingerprint(self) -> str:
        """SHA-256 of everything that changes the simulated data (for resumable runs)."""
        data = {
            "protocol": self.protocol,
            "n_per_arm": self.n_per_arm,
            "enrolment_weeks": self.enrolment_weeks,
            "start_date": self.start_date.isoformat(),
            "visit_jitter_days": self.visit_jitter_days,
            "params": self.params,
            "drug_effect_scale": self.drug_effect_scale,
            "subgroup_effect": self.subgroup_effect,
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def available_scenarios() -> list[str]:
    """Names of the scenarios shipped with myotrial."""
    return bundled_toml_names("myotrial.simulate.scenarios")


def _path(name_or_path: str | Path) -> Path:
    return resolve_toml(name_or_path, "myotrial.simulate.scenarios", "scenario")


def load_scenario(name_or_path: str | Path = "proderm") -> Scenario:
    """Load a scenario by bundled name (``"proderm"``) or TOML path.

    A scenario file may start from another one with ``base = "proderm"`` in ``[scenario]``: the
    base's tables are read first and the file's own entries replace them.

    Raises
    ------
    RulesError
        Naming the file and the parameter that is missing, unknown or out of range.
    """
    source = _path(name_or_path)
    data = _read(source)
    base_name = data.get("scenario", {}).get("base")
    if base_name is not None:
        base_path = _path(str(base_name))
        if base_path.resolve() == source.resolve():
            raise RulesError(f"{source}: a scenario cannot be its own base")
        base = _read(base_path)
        for key, table in data.items():
            if isinstance(table, dict):
                base.setdefault(key, {}).update(table)
        data = base
    meta = data.get("scenario", {})
    design = data.get("design", {})
    try:
        n_per_arm = {
            "ivig": int(design["n_ivig"]),
            "placebo": int(design["n_placebo"]),
        }
        scen = Scenario(
            name=str(meta["name"]),
            description=str(meta.get("description", "")),
            protocol=str(meta.get("protocol", "proderm")),
            data_source=str(meta["data_source"]),
            n_per_arm=n_per_arm,
            enrolment_weeks=float(design.get("enrolment_weeks", 104)),
            start_date=dt.date.fromisoformat(str(design.get("start_date", "2017-02-01"))),
            visit_jitter_days=int(design.get("visit_jitter_days", 3)),
            params={
                f"{t}.{k}": float(v)
                for t in PARAMETER_TABLES
                for k, v in data.get(t, {}).items()
                if not isinstance(v, bool) and isinstance(v, int | float)
            },
            drug_effect_scale=float(data.get("effects", {}).get("drug_effect_scale", 1.0)),
            subgroup_effect={
                str(k): float(v) for k, v in data.get("effects", {}).get("subgroup", {}).items()
            },
            source=source,
        )
    except KeyError as exc:
        raise RulesError(f"{source}: missing {exc.args[0]!r} in [scenario] or [design]") from None
    except (TypeError, ValueError) as exc:
        raise RulesError(f"{source}: {exc}") from None
    _check(scen, str(source))
    return scen


def _read(source: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RulesError(f"{source}: scenario file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{source}: not valid TOML ({exc})") from exc


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
