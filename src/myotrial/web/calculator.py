"""The public TIS calculator: page and JSON API, on :func:`myotrial.scoring.score_patient`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from myotrial.errors import InputValidationError
from myotrial.rules import load_scales
from myotrial.scoring.single import score_patient
from myotrial.web.templating import templates

__all__ = ["router"]

router = APIRouter()
ENZYMES = load_scales().enzymes
#: Form rows of the calculator: (field, label, unit)
FORM_MEASURES: tuple[tuple[str, str, str], ...] = (
    ("pga", "Physician global activity", "cm, 0-10"),
    ("ptga", "Patient / parent global activity", "cm, 0-10"),
    ("extramuscular", "Extramuscular activity (MDAAT)", "cm, 0-10"),
    ("mmt8", "MMT-8", "0 to MMT-8 maximum"),
    ("haq", "HAQ (adult)", "0-3"),
    ("chaq", "CHAQ (juvenile)", "0-3"),
    ("ck", "Creatine kinase", "U/L"),
    ("aldolase", "Aldolase", "U/L"),
    ("ldh", "LDH", "U/L"),
    ("alt", "ALT", "U/L"),
    ("ast", "AST", "U/L"),
)


#: A measure as typed: finite and within a plausible magnitude (issue 12: 1e308 once
#: overflowed the percent changes into a server error); the scoring rules check the ranges.
Value = Annotated[float, Field(ge=-1e7, le=1e7, allow_inf_nan=False)]


class Measures(BaseModel):
    """Values of one visit; omit or null what was not measured."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    pga: Value | None = None
    ptga: Value | None = None
    extramuscular: Value | None = None
    mmt8: Value | None = None
    haq: Value | None = None
    chaq: Value | None = None
    cmas: Value | None = None
    das: Value | None = None
    chq_phs: Value | None = None
    ck: Value | None = None
    aldolase: Value | None = None
    ldh: Value | None = None
    alt: Value | None = None
    ast: Value | None = None


class TISRequest(BaseModel):
    """Baseline and follow-up core set measures of one patient."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    population: Literal["adult", "juvenile"] = "adult"
    measure_set: Literal["imacs", "printo"] = "imacs"
    mmt8_max: float = Field(150.0, gt=0, le=1e4, description="MMT-8 maximum: 150 (ProDERM) "
                            "or 80")
    chq_phs_range: float | None = Field(None, gt=0, le=1e4)
    baseline: Measures
    follow_up: Measures
    uln: dict[str, Value] = Field(
        default_factory=dict, description="upper limit of normal by enzyme, e.g. {'ck': 200}"
    )


def _problems(exc: InputValidationError, visit_names: dict[int, str]) -> list[dict[str, Any]]:
    out = []
    for rec in exc.problems.to_dict("records"):
        row = rec.get("row")
        visit = visit_names.get(int(row), "") if row == row and row is not None else ""
        out.append({"loc": [visit, _plain(rec.get("column"))], "value": _plain(rec.get("value")),
                    "msg": _plain(rec.get("rule"))})
    return out


def _plain(value: Any) -> Any:
    """A JSON-safe cell of a problem table (a missing value is NaN there: null here)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value if isinstance(value, str | int | float | bool) else str(value)


def _calculate(req: TISRequest) -> dict[str, Any]:
    bad = sorted(set(req.uln) - set(ENZYMES))
    if bad:
        raise ValueError(f"uln: unknown enzyme(s) {', '.join(bad)}; valid: {', '.join(ENZYMES)}")
    return score_patient(
        req.baseline.model_dump(exclude_none=True),
        req.follow_up.model_dump(exclude_none=True),
        ulns=req.uln,
        population=req.population,
        measure_set=req.measure_set,
        mmt8_max=req.mmt8_max,
        chq_phs_range=req.chq_phs_range,
    )


@router.post("/api/tis", tags=["calculator"], summary="Total Improvement Score of one patient")
async def api_tis(req: TISRequest) -> JSONResponse:
    """2016 ACR/EULAR TIS with its per-measure breakdown, category, IMACS DOI and ProDERM
    worsening clauses — the same engine as ``myotrial score``. Bad values give 422 with the
    visit and field of each problem."""
    try:
        return JSONResponse(_calculate(req))
    except InputValidationError as exc:
        return JSONResponse(
            {"detail": _problems(exc, {1: "baseline", 2: "follow_up"})}, status_code=422
        )
    except ValueError as exc:
        return JSONResponse({"detail": [{"loc": [], "msg": str(exc)}]}, status_code=422)


@router.get("/calculator", response_class=HTMLResponse, tags=["pages"])
def calculator_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "calculator.html",
        {
            "measures": FORM_MEASURES,
            "values": {},
            "result": None,
            "errors": [],
            "population": "adult",
            "mmt8_max": 150,
            "thresholds": _threshold_labels(),
        },
    )


def _threshold_labels() -> dict[str, str]:
    """``{"adult": "20 / 40 / 60", "juvenile": "30 / 45 / 70"}`` from rules/tis_2016.toml."""
    from myotrial.rules import load_tis_rules

    categories = load_tis_rules().categories
    return {pop: " / ".join(f"{v:g}" for v in (c.minimal, c.moderate, c.major))
            for pop, c in categories.items()}


@router.post("/calculator", response_class=HTMLResponse, tags=["pages"])
async def calculator_submit(
    request: Request,
    population: Annotated[str, Form()] = "adult",
    mmt8_max: Annotated[str, Form()] = "150",
) -> HTMLResponse:
    form = await request.form()
    values = {k: str(v).strip() for k, v in form.items()}
    errors: list[str] = []

    def number(key: str) -> float | None:
        text = values.get(key, "")
        if text == "":
            return None
        try:
            return float(text)
        except ValueError:
            errors.append(f"{key.replace('__', ' ')}: {text!r} is not a number")
            return None

    baseline = {m: number(f"{m}__baseline") for m, _, _ in FORM_MEASURES}
    follow = {m: number(f"{m}__follow_up") for m, _, _ in FORM_MEASURES}
    ulns = {e: number(f"{e}__uln") for e in ENZYMES}
    mmt_max = number("mmt8_max") or 150.0
    result = None
    status = 200
    if population not in ("adult", "juvenile"):
        errors.append(f"population: {population!r} must be adult or juvenile")
    if not errors:
        try:
            req = TISRequest(
                population=population,  # type: ignore[arg-type]
                mmt8_max=mmt_max,
                chq_phs_range=None,
                baseline=Measures(**{k: v for k, v in baseline.items() if v is not None}),
                follow_up=Measures(**{k: v for k, v in follow.items() if v is not None}),
                uln={k: v for k, v in ulns.items() if v is not None},
            )
            result = _calculate(req)
        except InputValidationError as exc:
            errors += [
                f"{p['loc'][0]} {p['loc'][1]} = {p['value']}: {p['msg']}"
                for p in _problems(exc, {1: "baseline", 2: "follow-up"})
            ]
        except ValueError as exc:
            errors.append(str(exc))
    if errors:
        status = 422
    return templates.TemplateResponse(
        request,
        "calculator.html",
        {
            "measures": FORM_MEASURES,
            "values": values,
            "result": result,
            "errors": errors,
            "population": population,
            "mmt8_max": mmt8_max,
            "thresholds": _threshold_labels(),
        },
        status_code=status,
    )
