"""Server-rendered pages (Jinja2) of the trial: login, dashboard, subjects and their timeline,
screening, randomisation, visits, infusions, adverse events, exports, audit, administration.

Every page calls :class:`~myotrial.db.TrialService` (as the JSON API does); a form with bad
input is shown again with every problem and the values typed (status 422), nothing changed.
"""

from __future__ import annotations

import io
from collections.abc import Hashable, Mapping
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from myotrial.db.exports import EXPORT_TABLES
from myotrial.db.roles import Actor, PermissionDenied, Role
from myotrial.db.service import CORRECTABLE_FIELDS, SEVERITIES, TrialService
from myotrial.db.service.identity import LoginThrottled
from myotrial.errors import InputValidationError
from myotrial.randomisation import AllocationError
from myotrial.web.api import ImportListBody, ListBody, get_service, scheme_from
from myotrial.web.errors import missing_resource, problem_list
from myotrial.web.plot import render_timeline_svg
from myotrial.web.readcache import View, kept_view, read_cache, session_version
from myotrial.web.security import (
    Session,
    client_address,
    end_session,
    request_actor,
    request_session,
    set_session,
)
from myotrial.web.templating import templates
from myotrial.web.views import (
    dashboard_view,
    records,
    role_label,
    subjects_view,
    timeline_key,
    timeline_view,
)

__all__ = ["SCREENING_FIELDS", "VISIT_FIELDS", "router", "visit_fields"]

router = APIRouter(include_in_schema=False)
ServiceDep = Annotated[TrialService, Depends(get_service)]
ActorDep = Annotated[Actor, Depends(request_actor)]

#: Visit form: (field, label, unit).
VISIT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("pga", "Physician global activity", "cm, 0-10"),
    ("ptga", "Patient global activity", "cm, 0-10"),
    ("extramuscular", "Extramuscular activity", "cm, 0-10"),
    ("mmt8", "MMT-8", "0-150"),
    ("haq", "HAQ", "0-3"),
    ("ck", "Creatine kinase", "U/L"),
    ("ck_uln", "CK upper limit of normal", "U/L"),
    ("aldolase", "Aldolase", "U/L"),
    ("aldolase_uln", "Aldolase ULN", "U/L"),
    ("cdasi_activity", "CDASI activity", "0-100"),
)
#: The visits-table column of a TIS slot other than the slot's own name (juvenile: CHAQ).
_SLOT_FIELDS: dict[str, tuple[str, str, str]] = {
    "chaq": ("chaq", "CHAQ", "0-3"),
}


def visit_fields(service: TrialService) -> tuple[tuple[str, str, str], ...]:
    """The visit form of the protocol's population and measure set: the HAQ slot is CHAQ for
    a juvenile protocol (``ProtocolPolicy.measure_columns``)."""
    column = service.policy.measure_columns.get("haq", "haq")
    if column == "haq":
        return VISIT_FIELDS
    replacement = _SLOT_FIELDS.get(column, (column, column.upper(), ""))
    return tuple(replacement if key == "haq" else (key, label, unit)
                 for key, label, unit in VISIT_FIELDS)

_B = "bool"
_N = "number"
_T = "text"
#: Screening form: (section, [(column, label, kind)]), the columns of the screening table.
SCREENING_FIELDS: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    ("Candidate", (("subject_id", "Subject id", _T),
                   ("consent_date", "Written consent on (YYYY-MM-DD)", _T),
                   ("age", "Age (years)", _N),
                   ("sex", "Sex (F/M)", _T), ("bmi", "BMI (kg/m²)", _N),
                   ("msa_group", "Antibody group", "msa"))),
    ("Bohan and Peter criteria", (
        ("bp_weakness", "Symmetric proximal weakness", _B), ("bp_biopsy", "Biopsy evidence", _B),
        ("bp_enzymes", "Elevated muscle enzymes", _B), ("bp_emg", "Myopathic EMG", _B),
        ("bp_rash", "Typical rash", _B), ("bp_exclusion", "An exclusion of Bohan and Peter", _B))),
    ("Core set measures at screening", (
        ("pga", "PGA (cm)", _N), ("ptga", "PtGA (cm)", _N),
        ("extramuscular", "Extramuscular (cm)", _N), ("mmt8", "MMT-8", _N),
        ("mmt8_max", "MMT-8 maximum", _N), ("haq", "HAQ", _N), ("ck", "CK (U/L)", _N),
        ("ck_uln", "CK ULN", _N), ("aldolase", "Aldolase", _N),
        ("aldolase_uln", "Aldolase ULN", _N), ("ldh", "LDH", _N), ("ldh_uln", "LDH ULN", _N),
        ("alt", "ALT", _N), ("alt_uln", "ALT ULN", _N),
        ("ast", "AST", _N), ("ast_uln", "AST ULN", _N))),
    ("Therapy", (("stable_therapy_4_weeks", "Stable therapy for 4 weeks", _B),
                 ("prior_treatment_failure", "Prior treatment failure", _B))),
    ("Exclusions", (
        ("cancer_associated_myositis", "Cancer-associated myositis", _B),
        ("active_malignancy", "Active malignancy", _B),
        ("dvt_last_year", "DVT in the last year", _B),
        ("starting_physical_therapy", "Starting physical therapy", _B),
        ("ivig_last_6_months", "IVIG within 6 months", _B))),
    ("2017 EULAR/ACR items", (
        ("age_at_onset", "Age at onset", _N),
        ("proximal_upper_weakness", "Proximal upper-limb weakness", _B),
        ("proximal_lower_weakness", "Proximal lower-limb weakness", _B),
        ("neck_flexor_weakness", "Neck flexors weaker than extensors", _B),
        ("proximal_leg_weaker_than_distal", "Legs: proximal weaker than distal", _B),
        ("heliotrope_rash", "Heliotrope rash", _B), ("gottron_papules", "Gottron's papules", _B),
        ("gottron_sign", "Gottron's sign", _B), ("dysphagia", "Dysphagia", _B),
        ("anti_jo1", "Anti-Jo-1", _B), ("enzymes_above_uln", "Enzymes above ULN", _B),
        ("biopsy_endomysial_infiltrate", "Biopsy: endomysial infiltrate", _B),
        ("biopsy_perimysial_infiltrate", "Biopsy: perimysial infiltrate", _B),
        ("biopsy_perifascicular_atrophy", "Biopsy: perifascicular atrophy", _B),
        ("biopsy_rimmed_vacuoles", "Biopsy: rimmed vacuoles", _B))),
)
MSA_GROUPS = ("", "dm_specific", "antisynthetase", "imnm", "maa_only", "negative", "unknown")


def render(request: Request, name: str, context: Mapping[str, Any],
           status: int = 200) -> HTMLResponse:
    """Render a page with the user, the CSRF token and the role's links."""
    return templates.TemplateResponse(request, name, _page_context(request, context),
                                      status_code=status)


def _page_context(request: Request, context: Mapping[str, Any]) -> dict[str, Any]:
    session = request_session(request)
    actor = session.actor
    return {"actor": actor, "csrf_token": session.csrf,
            "role": None if actor is None else actor.role.value,
            "role_label": None if actor is None else role_label(actor.role), **context}


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


class _Loose(dict[str, Any]):
    """Form values: blank or absent -> None; the service parses and validates the text."""

    def __missing__(self, key: str) -> Any:
        return None


def _blank_none(values: Mapping[str, str]) -> _Loose:
    return _Loose({k: (v if v != "" else None) for k, v in values.items()})


def _messages(exc: Exception) -> list[dict[str, Any]]:
    if isinstance(exc, InputValidationError):
        return problem_list(exc)
    return [{"loc": [None, None, None], "field": None, "value": None, "msg": str(exc)}]


# ---------------------------------------------------------------------------------------------
# home, login


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return render(request, "home.html", {})


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/dashboard") -> HTMLResponse:
    return render(request, "login.html", {"next": _safe_next(next), "error": None,
                                          "username": ""})


def _safe_next(target: str) -> str:
    """Only a local path (no open redirect)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/dashboard"


def _landing(actor: Actor) -> str:
    return "/admin" if actor.role is Role.ADMINISTRATOR else "/dashboard"


@router.post("/login", response_model=None)
async def login_submit(request: Request, service: ServiceDep) -> Response:
    form = await _form(request)
    username = form.get("username", "")
    target = _safe_next(form.get("next", ""))
    try:
        token, record = service.login(username, form.get("password", ""),
                                      client=client_address(request))
    except LoginThrottled:
        raise
    except PermissionDenied as exc:
        return render(request, "login.html", {"next": target, "error": str(exc),
                                              "username": username[:64]}, status=401)
    end_session(request)
    session = Session.logged_in(token, record, new=True)
    set_session(request, session)
    if target == "/dashboard" and session.actor is not None:
        target = _landing(session.actor)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    end_session(request)
    set_session(request, Session.anonymous())
    return RedirectResponse("/", status_code=303)


@router.get("/password", response_class=HTMLResponse)
def password_page(request: Request, actor: ActorDep) -> HTMLResponse:
    return render(request, "password.html", {"error": None, "done": False})


@router.post("/password", response_class=HTMLResponse)
async def password_submit(request: Request, service: ServiceDep,
                          actor: ActorDep) -> HTMLResponse:
    form = await _form(request)
    try:
        token, record = service.change_password(actor, form.get("old_password", ""),
                                                form.get("new_password", ""))
    except LoginThrottled:
        raise
    except PermissionDenied:
        return render(request, "password.html", {"error": "the current password is wrong",
                                                 "done": False}, status=422)
    except InputValidationError as exc:
        return render(request, "password.html", {"error": "; ".join(
            str(p["msg"]) for p in problem_list(exc)), "done": False}, status=422)
    set_session(request, Session.logged_in(token, record, new=True))
    return render(request, "password.html", {"error": None, "done": True})


# ---------------------------------------------------------------------------------------------
# dashboard, subjects


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, service: ServiceDep, actor: ActorDep) -> HTMLResponse:
    return render(request, "dashboard.html",
                  {"d": dashboard_view(read_cache(request), service, actor,
                                       version=session_version(request, actor)).data})


@router.get("/subjects", response_class=HTMLResponse)
def subjects_page(request: Request, service: ServiceDep, actor: ActorDep) -> HTMLResponse:
    subjects = subjects_view(read_cache(request), service, actor,
                             version=session_version(request, actor)).data
    return render(request, "subjects.html", {"subjects": subjects})


def _subject_page(request: Request, service: TrialService, actor: Actor, subject_id: str, *,
                  notice: dict[str, Any] | None = None, form: str | None = None,
                  errors: list[dict[str, Any]] | None = None,
                  values: Mapping[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    view = timeline_view(read_cache(request), service, actor, subject_id,
                         version=session_version(request, actor))
    data = view.data
    context = {
        "t": data, "s": data["subject"], "notice": notice, "form": form,
        "errors": errors or [], "values": values or {},
        "visit_fields": visit_fields(service),
        "severities": SEVERITIES, "correctable": CORRECTABLE_FIELDS,
        "can_enter": actor.role is Role.SITE_INVESTIGATOR,
        "ir_hours": service.policy.infusion_related_window_hours,
        "svg": _svg(service, view),
    }
    if notice is None and form is None and not errors and not values and status == 200:
        # the plain page: a function of the view and of the session only (user, role,
        # site, CSRF token), so it is kept per session with the view
        html: bytes = view.render_for(
            _page_key(request, actor),
            lambda _: templates.get_template("subject.html").render(
                {"request": request, **_page_context(request, context)}).encode())
        return HTMLResponse(html)  # kept encoded: sent as it is
    return render(request, "subject.html", context, status=status)


def _page_key(request: Request, actor: Actor) -> Hashable:
    """What a plain subject page holds besides its view: the session's user, role, site and
    CSRF token (``View.render_for``)."""
    return ("subject.html", actor.username, actor.role.value, actor.site_id,
            request_session(request).csrf)


def _svg(service: TrialService, view: View) -> str:
    """The timeline plot of a cached view (drawn once per view)."""
    svg: str = view.render("svg", lambda data: render_timeline_svg(
        data, service.policy.threshold_values, service.policy.max_week))
    return svg


@router.get("/subjects/{subject_id}", response_class=HTMLResponse)
async def subject_page(request: Request, subject_id: str, service: ServiceDep,
                       actor: ActorDep) -> HTMLResponse:
    """The subject page: kept for this session with its view (web/readcache.py) it is sent
    from the event loop; else built and rendered in the thread pool."""
    kept = kept_view(request, actor, "subject_timeline", timeline_key(actor, subject_id))
    html = None if kept is None else kept.rendered_for(_page_key(request, actor))
    if html is not None:
        return HTMLResponse(html)
    return await run_in_threadpool(_subject_page, request, service, actor, subject_id)


@router.get("/subjects/{subject_id}/plot.svg")
def subject_plot(request: Request, subject_id: str, service: ServiceDep,
                 actor: ActorDep) -> Response:
    svg = _svg(service, timeline_view(read_cache(request), service, actor, subject_id,
                                      version=session_version(request, actor)))
    return Response(svg, media_type="image/svg+xml")


async def _subject_action(request: Request, service: TrialService, actor: Actor,
                          subject_id: str, form_name: str, action: Any) -> HTMLResponse:
    """Run ``action(values)`` (a service call); show the subject page with its result, or
    with the form's problems and the values typed (422)."""
    values = await _form(request)
    try:
        result = action(_blank_none(values))
    except (InputValidationError, AllocationError) as exc:
        return _subject_page(request, service, actor, subject_id, form=form_name,
                             errors=_messages(exc), values=values,
                             status=409 if isinstance(exc, AllocationError) else 422)
    return _subject_page(request, service, actor, subject_id,
                         notice={"kind": form_name, "result": result.as_dict()})


@router.post("/subjects/{subject_id}/randomise", response_class=HTMLResponse)
async def randomise_submit(request: Request, subject_id: str, service: ServiceDep,
                           actor: ActorDep) -> HTMLResponse:
    return await _subject_action(
        request, service, actor, subject_id, "randomise",
        lambda v: service.randomise_subject(actor, subject_id))


@router.post("/subjects/{subject_id}/emergency-unblinding", response_class=HTMLResponse)
async def emergency_submit(request: Request, subject_id: str, service: ServiceDep,
                           actor: ActorDep) -> HTMLResponse:
    return await _subject_action(
        request, service, actor, subject_id, "emergency",
        lambda v: service.emergency_unblind(actor, subject_id, v["reason"]))


@router.post("/subjects/{subject_id}/visits", response_class=HTMLResponse)
async def visit_submit(request: Request, subject_id: str, service: ServiceDep,
                       actor: ActorDep) -> HTMLResponse:
    def record(v: dict[str, Any]) -> Any:
        measures = {k: v[k] for k, _, _ in visit_fields(service) if v.get(k) is not None}
        return service.record_visit(actor, subject_id, v["visit_week"], measures,
                                    visit_date=v["visit_date"])

    return await _subject_action(request, service, actor, subject_id, "visit", record)


@router.post("/subjects/{subject_id}/infusions", response_class=HTMLResponse)
async def infusion_submit(request: Request, subject_id: str, service: ServiceDep,
                          actor: ActorDep) -> HTMLResponse:
    def record(v: dict[str, Any]) -> Any:
        return service.record_infusion(
            actor, subject_id, cycle=v["cycle"], start=v["start"],
            end=v["end"], dose_g_per_kg=v["dose_g_per_kg"],
            rate_ml_per_kg_min=v["rate_ml_per_kg_min"],
            kit_code=v["kit_code"])

    return await _subject_action(request, service, actor, subject_id, "infusion", record)


@router.post("/subjects/{subject_id}/adverse-events", response_class=HTMLResponse)
async def adverse_event_submit(request: Request, subject_id: str, service: ServiceDep,
                               actor: ActorDep) -> HTMLResponse:
    def record(v: dict[str, Any]) -> Any:
        return service.record_adverse_event(
            actor, subject_id, term=v["term"], onset=v["onset"],
            severity=v["severity"],
            serious=v["serious"] == "true",
            thromboembolic=v["thromboembolic"] == "true",
            related=v["related"],
            body_system=v["body_system"], end=v["end"])

    return await _subject_action(request, service, actor, subject_id, "adverse_event", record)


@router.post("/subjects/{subject_id}/disposition", response_class=HTMLResponse)
async def disposition_submit(request: Request, subject_id: str, service: ServiceDep,
                             actor: ActorDep) -> HTMLResponse:
    def record(v: dict[str, Any]) -> Any:
        fields = ("completed_week_16", "entered_extension", "completed_week_40",
                  "discontinuation_reason")
        return service.record_disposition(actor, subject_id,
                                          **{k: v[k] for k in fields if v.get(k) is not None})

    return await _subject_action(request, service, actor, subject_id, "disposition", record)


@router.post("/subjects/{subject_id}/corrections", response_class=HTMLResponse)
async def correction_submit(request: Request, subject_id: str, service: ServiceDep,
                            actor: ActorDep) -> HTMLResponse:
    def record(v: dict[str, Any]) -> Any:
        table = v["table"] or ""
        which = v["record"]
        keys: dict[str, dict[str, Any]] = {
            "subjects": {"subject_id": subject_id},
            "visits": {"subject_id": subject_id, "visit_week": which},
            "infusions": {"infusion_id": which},
            "adverse_events": {"ae_id": which},
        }
        key = keys.get(table, {"subject_id": subject_id})
        return service.correct_record(actor, table, key, v["field"] or "", v["value"],
                                      v["reason"] or "")

    return await _subject_action(request, service, actor, subject_id, "correction", record)


# ---------------------------------------------------------------------------------------------
# screening


@router.get("/screening", response_class=HTMLResponse)
def screening_page(request: Request, actor: ActorDep) -> HTMLResponse:
    return render(request, "screening.html", {"sections": SCREENING_FIELDS, "values": {},
                                              "errors": [], "result": None,
                                              "msa_groups": MSA_GROUPS})


@router.post("/screening", response_class=HTMLResponse)
async def screening_submit(request: Request, service: ServiceDep,
                           actor: ActorDep) -> HTMLResponse:
    values = await _form(request)
    known = {col for _, fields in SCREENING_FIELDS for col, _, _ in fields}
    # every column of the form is sent (blank = unknown), so a blank value is "not recorded"
    row = {k: v for k, v in _blank_none(values).items() if k in known}
    context: dict[str, Any] = {"sections": SCREENING_FIELDS, "values": values, "errors": [],
                               "result": None, "msa_groups": MSA_GROUPS}
    try:
        context["result"] = service.record_screening(actor, row).as_dict()
    except InputValidationError as exc:
        context["errors"] = problem_list(exc)
        return render(request, "screening.html", context, status=422)
    return render(request, "screening.html", context)


# ---------------------------------------------------------------------------------------------
# exports, allocations, randomisation list


@router.get("/exports", response_class=HTMLResponse)
def exports_page(request: Request, actor: ActorDep) -> HTMLResponse:
    return render(request, "exports.html", {"tables": EXPORT_TABLES,
                                            "unblinded": not actor.blinded})


@router.get("/allocations", response_class=HTMLResponse)
def allocations_page(request: Request, service: ServiceDep, actor: ActorDep) -> HTMLResponse:
    return render(request, "allocations.html",
                  {"rows": records(service.list_allocations(actor))})


def _scheme_facts(service: TrialService) -> dict[str, Any]:
    protocol = service.protocol
    return {"protocol": protocol.name, "arms": list(protocol.arm_codes),
            "ratio": ":".join(str(protocol.ratio[a]) for a in protocol.arm_codes),
            "block_sizes": list(protocol.block_sizes), "strata": list(protocol.strata)}


@router.get("/randomisation", response_class=HTMLResponse)
def randomisation_page(request: Request, service: ServiceDep, actor: ActorDep) -> HTMLResponse:
    return render(request, "randomisation.html", {"values": {}, "errors": [], "result": None,
                                                  "scheme": _scheme_facts(service)})


@router.post("/randomisation", response_class=HTMLResponse)
async def randomisation_submit(request: Request, service: ServiceDep,
                               actor: ActorDep) -> HTMLResponse:
    values = await _form(request)
    context: dict[str, Any] = {"values": values, "errors": [], "result": None,
                               "scheme": _scheme_facts(service)}
    try:
        factors = {}
        for part in filter(None, (p.strip() for p in values.get("factors", "").split(";"))):
            name, _, levels = part.partition("=")
            factors[name.strip()] = [x.strip() for x in levels.split(",") if x.strip()]
        raw: dict[str, Any] = {"n_per_stratum": values.get("n_per_stratum") or 50,
                               "factors": factors}
        body = ListBody.model_validate(raw)
        context["result"] = service.generate_randomisation_list(
            actor, scheme_from(body, service)).as_dict()
    except ValidationError as exc:
        context["errors"] = [{"field": ".".join(map(str, e["loc"])), "msg": e["msg"],
                              "value": None} for e in exc.errors()]
    except (ValueError, AllocationError) as exc:
        context["errors"] = _messages(exc)
    if context["errors"]:
        return render(request, "randomisation.html", context, status=422)
    return render(request, "randomisation.html", context)


@router.post("/randomisation/import", response_class=HTMLResponse)
async def randomisation_import(request: Request, service: ServiceDep,
                               actor: ActorDep) -> HTMLResponse:
    values = await _form(request)
    context: dict[str, Any] = {"values": {}, "errors": [], "result": None,
                               "scheme": _scheme_facts(service)}
    try:
        factors = {}
        for part in filter(None, (p.strip() for p in values.get("factors", "").split(";"))):
            name, _, levels = part.partition("=")
            factors[name.strip()] = [x.strip() for x in levels.split(",") if x.strip()]
        body = ImportListBody.model_validate({"csv": values.get("csv", ""),
                                              "factors": factors})
        frame = pd.read_csv(io.StringIO(body.csv), dtype=str, keep_default_na=False)
        context["result"] = service.import_randomisation_list(
            actor, scheme_from(body, service), frame).as_dict()
    except ValidationError as exc:
        context["errors"] = [{"field": ".".join(map(str, e["loc"])), "msg": e["msg"],
                              "value": None} for e in exc.errors()]
    except (ValueError, AllocationError, pd.errors.ParserError) as exc:
        context["errors"] = _messages(exc)
    if context["errors"]:
        return render(request, "randomisation.html", context, status=422)
    return render(request, "randomisation.html", context)


# ---------------------------------------------------------------------------------------------
# audit


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, service: ServiceDep, actor: ActorDep,
               subject_id: str | None = None) -> HTMLResponse:
    rows = records(service.audit_trail(actor, subject_id=subject_id or None))
    return render(request, "audit.html", {"rows": rows[-500:], "total": len(rows),
                                          "subject_id": subject_id or ""})


@router.get("/audit/verify", response_class=HTMLResponse)
def audit_verify_page(request: Request, service: ServiceDep, actor: ActorDep) -> HTMLResponse:
    report = service.verify_audit(actor)
    return render(request, "audit_verify.html", {"report": report.as_dict(),
                                                 "summary": report.summary()})


# ---------------------------------------------------------------------------------------------
# administration


def _admin(request: Request, service: TrialService, actor: Actor, *, form: str | None = None,
           errors: list[dict[str, Any]] | None = None, values: Mapping[str, Any] | None = None,
           notice: str | None = None, status: int = 200) -> HTMLResponse:
    users = [u.as_dict() for u in service.list_users(actor)]
    return render(request, "admin.html", {"users": users, "roles": [r.value for r in Role],
                                          "form": form, "errors": errors or [],
                                          "values": values or {}, "notice": notice},
                  status=status)


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, service: ServiceDep, actor: ActorDep) -> HTMLResponse:
    return _admin(request, service, actor)


async def _admin_action(request: Request, service: TrialService, actor: Actor, form_name: str,
                        action: Any) -> HTMLResponse:
    values = await _form(request)
    try:
        notice = action(_blank_none(values))
    except InputValidationError as exc:
        if missing_resource(request, exc) is not None:
            raise  # unknown user in the URL: 404
        return _admin(request, service, actor, form=form_name, errors=problem_list(exc),
                      values=values, status=422)
    return _admin(request, service, actor, notice=notice)


@router.post("/admin/sites", response_class=HTMLResponse)
async def admin_site(request: Request, service: ServiceDep, actor: ActorDep) -> HTMLResponse:
    def act(v: dict[str, Any]) -> str:
        site = service.create_site(actor, v["site_id"], v["name"],
                                   v["country"])
        return f"Created site {site.site_id} ({site.name})."

    return await _admin_action(request, service, actor, "site", act)


@router.post("/admin/users", response_class=HTMLResponse)
async def admin_user(request: Request, service: ServiceDep, actor: ActorDep) -> HTMLResponse:
    def act(v: dict[str, Any]) -> str:
        user = service.create_user(actor, v["username"],
                                   v["password"], v["role"] or "",
                                   v["site_id"])
        return f"Created user {user.username} ({role_label(user.role)})."

    return await _admin_action(request, service, actor, "user", act)


@router.post("/admin/users/{username}/approve", response_class=HTMLResponse)
async def admin_approve(request: Request, username: str, service: ServiceDep,
                        actor: ActorDep) -> HTMLResponse:
    def act(v: dict[str, Any]) -> str:
        user = service.approve_user(actor, username)
        return f"Approved user {user.username} (two-person rule)."

    return await _admin_action(request, service, actor, "account", act)


@router.post("/admin/users/{username}/reactivate", response_class=HTMLResponse)
async def admin_reactivate(request: Request, username: str, service: ServiceDep,
                           actor: ActorDep) -> HTMLResponse:
    def act(v: dict[str, Any]) -> str:
        user = service.reactivate_user(actor, username, v["reason"])
        return (f"Reactivated user {user.username}." if user.active else
                f"User {user.username} awaits a second administrator's approval.")

    return await _admin_action(request, service, actor, "account", act)


@router.post("/admin/users/{username}/unlock", response_class=HTMLResponse)
async def admin_unlock(request: Request, username: str, service: ServiceDep,
                       actor: ActorDep) -> HTMLResponse:
    def act(v: dict[str, Any]) -> str:
        user = service.unlock_user(actor, username, v["reason"])
        return f"Lifted the lock of user {user.username}."

    return await _admin_action(request, service, actor, "account", act)


@router.post("/admin/users/{username}/password", response_class=HTMLResponse)
async def admin_password(request: Request, username: str, service: ServiceDep,
                         actor: ActorDep) -> HTMLResponse:
    def act(v: dict[str, Any]) -> str:
        user = service.reset_password(actor, username, v["new_password"], v["reason"])
        return (f"New password set for {user.username}" + (
            "; the account awaits a second administrator's approval."
            if user.approval_requested_by else "."))

    return await _admin_action(request, service, actor, "account", act)


@router.post("/admin/users/{username}/deactivate", response_class=HTMLResponse)
async def admin_deactivate(request: Request, username: str, service: ServiceDep,
                           actor: ActorDep) -> HTMLResponse:
    def act(v: dict[str, Any]) -> str:
        user = service.deactivate_user(actor, username, v["reason"])
        return f"Deactivated user {user.username}."

    return await _admin_action(request, service, actor, "deactivate", act)


# ---------------------------------------------------------------------------------------------
# API documentation (server-rendered from the OpenAPI description; no CDN)


@router.get("/api-docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    spec = request.app.openapi()
    rows = []
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            rows.append({"method": method.upper(), "path": path,
                         "summary": op.get("summary", ""), "tags": ", ".join(op.get("tags", []))})
    return render(request, "api_docs.html", {"rows": rows})
