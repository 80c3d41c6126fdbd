"""The JSON API: everything the pages do, on :class:`~myotrial.db.TrialService`.

Log in with ``GET /api/session`` (gives the CSRF token and the anonymous session cookie), then
``POST /api/login``; send the token as ``X-CSRF-Token`` with every POST. Results are the
service's frozen results (``as_dict()``); blinded roles never receive an arm.
"""

from __future__ import annotations

import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from myotrial.db.exports import EXPORT_TABLES
from myotrial.db.roles import Actor, PermissionDenied
from myotrial.db.service import TrialService
from myotrial.randomisation import RandomisationScheme, StratumFactor
from myotrial.web.errors import NoDatabase, NotFound
from myotrial.web.security import request_actor, request_session, set_session
from myotrial.web.views import dashboard, jsonable, records, timeline

__all__ = ["Scalar", "get_service", "router", "scheme_from"]

router = APIRouter(prefix="/api")

#: A value as typed by a user: the service parses and validates it (located problems).
Scalar = float | int | bool | str | None


def get_service(request: Request) -> TrialService:
    service: TrialService | None = request.app.state.service
    if service is None:
        raise NoDatabase
    return service


ServiceDep = Annotated[TrialService, Depends(get_service)]
ActorDep = Annotated[Actor, Depends(request_actor)]


def _ok(payload: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(jsonable(payload), status_code=status)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(_Strict):
    username: str
    password: str


class RandomiseBody(_Strict):
    stratum: dict[str, str] | str | None = Field(
        None, description="stratum levels, e.g. {'site': '01'}; none for an unstratified list")


class VisitBody(_Strict):
    visit_week: Scalar = Field(..., description="week of the visit (0 = baseline)")
    visit_date: str | None = Field(None, description="ISO date, e.g. 2024-03-01")
    measures: dict[str, Scalar] = Field(
        default_factory=dict, description="visits-table measures, e.g. {'pga': 4, 'ck': 1000, "
        "'ck_uln': 200}; blank or null = not measured")


class InfusionBody(_Strict):
    cycle: Scalar
    start: Scalar = Field(..., description="ISO date-time (UTC if no zone)")
    end: Scalar
    dose_g_per_kg: Scalar
    rate_ml_per_kg_min: Scalar = None
    kit_code: Scalar = None


class AdverseEventBody(_Strict):
    term: Scalar
    onset: Scalar = Field(..., description="ISO date-time (UTC if no zone)")
    severity: Scalar = Field(..., description="mild, moderate, severe, life-threatening, fatal")
    serious: Scalar = False
    thromboembolic: Scalar = False
    related: Scalar = None
    body_system: Scalar = None
    end: Scalar = None


class DispositionBody(_Strict):
    completed_week_16: Scalar = None
    entered_extension: Scalar = None
    completed_week_40: Scalar = None
    discontinuation_reason: Scalar = None


class CorrectionBody(_Strict):
    table: str = Field(..., description="subjects, visits, infusions or adverse_events")
    key: dict[str, Scalar] = Field(..., description="e.g. {'subject_id': 'P1', 'visit_week': 4}")
    field: str
    value: Scalar
    reason: str


class ListBody(_Strict):
    """Arms, ratio, block sizes and the strata's names come from the protocol; the request
    gives the seed, the list length and the levels of the protocol's strata."""

    seed: int
    n_per_stratum: int = Field(50, ge=1, le=100_000)
    factors: dict[str, list[str]] = Field(
        default_factory=dict, description="levels of the protocol's stratification factors, "
        "e.g. {'site': ['01', '02']} (none for an unstratified protocol)")


class SiteBody(_Strict):
    site_id: str
    name: str
    country: str | None = None


class UserBody(_Strict):
    username: str
    password: str
    role: str
    site_id: str | None = None


class ReasonBody(_Strict):
    reason: str


def scheme_from(body: ListBody, service: TrialService) -> RandomisationScheme:
    """The protocol's randomisation scheme (arms, ratio, block sizes:
    ``RandomisationScheme.from_protocol``) with the request's strata levels and length; a bad
    parameter raises ValueError with the reason."""
    factors = tuple(StratumFactor(name, tuple(levels)) for name, levels in body.factors.items())
    return service.protocol_scheme(factors, body.n_per_stratum)


# ---------------------------------------------------------------------------------------------
# session


@router.get("/session", tags=["session"], summary="Who is logged in; the CSRF token")
def api_session(request: Request) -> JSONResponse:
    session = request_session(request)
    actor = session.actor
    return _ok({"user": None if actor is None else actor.as_dict(), "csrf_token": session.csrf})


@router.post("/login", tags=["session"], summary="Log in (argon2 password check)")
def api_login(request: Request, body: LoginBody, service: ServiceDep) -> JSONResponse:
    try:
        actor = service.authenticate(body.username, body.password)
    except PermissionDenied as exc:
        return JSONResponse({"detail": str(exc)}, status_code=401)
    session = request_session(request).login(actor)
    set_session(request, session)
    return _ok({"user": actor.as_dict(), "csrf_token": session.csrf})


@router.post("/logout", tags=["session"], summary="Log out")
def api_logout(request: Request) -> JSONResponse:
    from myotrial.web.security import Session

    session = Session.anonymous()
    set_session(request, session)
    return _ok({"user": None, "csrf_token": session.csrf})


# ---------------------------------------------------------------------------------------------
# subjects


@router.get("/subjects", tags=["subjects"], summary="Subjects visible to you")
def api_subjects(service: ServiceDep, actor: ActorDep) -> JSONResponse:
    return _ok([s.as_dict() for s in service.list_subjects(actor)])


@router.get("/subjects/{subject_id}", tags=["subjects"],
            summary="A subject's timeline: visits with TIS, infusions, adverse events")
def api_subject(subject_id: str, service: ServiceDep, actor: ActorDep) -> JSONResponse:
    return _ok(timeline(service, actor, subject_id))


@router.post("/screenings", tags=["subjects"], status_code=201,
             summary="Screen a candidate: the eligibility verdict and its reasons")
def api_screening(service: ServiceDep, actor: ActorDep,
                  row: Annotated[dict[str, Scalar], Body(
                      description="a row of the screening table (data-format.md), e.g. "
                      "{'subject_id': 'P001', 'age': 52, 'bp_rash': true, ...}; msa_group "
                      "optional")]) -> JSONResponse:
    return _ok(service.record_screening(actor, row).as_dict(), 201)


@router.post("/subjects/{subject_id}/randomise", tags=["subjects"], status_code=201,
             summary="Randomise an eligible subject: returns the kit code only")
def api_randomise(subject_id: str, service: ServiceDep, actor: ActorDep,
                  body: RandomiseBody | None = None) -> JSONResponse:
    stratum = None if body is None else body.stratum
    return _ok(service.randomise_subject(actor, subject_id, stratum).as_dict(), 201)


@router.post("/subjects/{subject_id}/visits", tags=["subjects"], status_code=201,
             summary="Record a visit: instant TIS, category, worsening clauses, confirmed "
             "deterioration and crossover")
def api_visit(subject_id: str, body: VisitBody, service: ServiceDep,
              actor: ActorDep) -> JSONResponse:
    result = service.record_visit(actor, subject_id, body.visit_week,  # type: ignore[arg-type]
                                  body.measures, visit_date=body.visit_date)
    return _ok(result.as_dict(), 201)


@router.post("/subjects/{subject_id}/infusions", tags=["subjects"], status_code=201,
             summary="Record an infusion day (rate and cycle-dose warnings)")
def api_infusion(subject_id: str, body: InfusionBody, service: ServiceDep,
                 actor: ActorDep) -> JSONResponse:
    result = service.record_infusion(actor, subject_id, **body.model_dump())
    return _ok(result.as_dict(), 201)


@router.post("/subjects/{subject_id}/adverse-events", tags=["subjects"], status_code=201,
             summary="Record an adverse event (infusion-related flag by the protocol's window, "
             "thromboembolic highlight)")
def api_adverse_event(subject_id: str, body: AdverseEventBody, service: ServiceDep,
                      actor: ActorDep) -> JSONResponse:
    result = service.record_adverse_event(actor, subject_id, **body.model_dump())
    return _ok(result.as_dict(), 201)


@router.post("/subjects/{subject_id}/disposition", tags=["subjects"],
             summary="Enter disposition fields that are still empty")
def api_disposition(subject_id: str, body: DispositionBody, service: ServiceDep,
                    actor: ActorDep) -> JSONResponse:
    given = {k: v for k, v in body.model_dump().items() if v is not None}
    return _ok(service.record_disposition(actor, subject_id, **given).as_dict())


@router.post("/corrections", tags=["subjects"],
             summary="Correct one field of one record, with a reason (audited)")
def api_correction(body: CorrectionBody, service: ServiceDep, actor: ActorDep) -> JSONResponse:
    result = service.correct_record(actor, body.table, body.key, body.field, body.value,
                                    body.reason)
    return _ok(result.as_dict())


# ---------------------------------------------------------------------------------------------
# trial


@router.get("/dashboard", tags=["trial"],
            summary="Enrolment by site, visits due, open deteriorations, adverse events")
def api_dashboard(service: ServiceDep, actor: ActorDep) -> JSONResponse:
    return _ok(dashboard(service, actor))


@router.get("/exports/{table}", tags=["trial"],
            summary="Export a canonical table of the live data (CSV or JSON; audited)")
def api_export(table: str, service: ServiceDep, actor: ActorDep,
               format: Annotated[Literal["csv", "json"], Query()] = "csv",
               view: Annotated[Literal["blinded", "unblinded"], Query()] = "blinded"
               ) -> Response:
    if table not in EXPORT_TABLES:
        raise NotFound(f"no export table {table!r}; tables: {', '.join(EXPORT_TABLES)}")
    frame = service.export_tables(actor, blinded=view == "blinded")[table]
    if format == "json":
        return _ok(records(frame))
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return Response(buffer.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{table}.csv"'})


@router.get("/allocations", tags=["unblinded"],
            summary="UNBLINDED: every allocation with its arm (audited)")
def api_allocations(service: ServiceDep, actor: ActorDep) -> JSONResponse:
    return _ok(records(service.list_allocations(actor)))


@router.post("/randomisation-list", tags=["unblinded"], status_code=201,
             summary="Generate and load the concealed randomisation list (once per trial)")
def api_randomisation_list(body: ListBody, service: ServiceDep, actor: ActorDep) -> JSONResponse:
    try:
        scheme = scheme_from(body, service)
    except ValueError as exc:
        return JSONResponse({"detail": [{"loc": [None, None, "scheme"], "field": "scheme",
                                         "msg": str(exc)}]}, status_code=422)
    return _ok(service.generate_randomisation_list(actor, scheme, body.seed).as_dict(), 201)


@router.get("/audit", tags=["trial"], summary="The audit trail (site investigators: own site)")
def api_audit(service: ServiceDep, actor: ActorDep,
              subject_id: Annotated[str | None, Query()] = None) -> JSONResponse:
    return _ok(records(service.audit_trail(actor, subject_id=subject_id)))


@router.get("/audit/verify", tags=["trial"],
            summary="Verify the audit hash chain and the data against it")
def api_audit_verify(service: ServiceDep, actor: ActorDep) -> JSONResponse:
    return _ok(service.verify_audit(actor).as_dict())


# ---------------------------------------------------------------------------------------------
# administration


@router.get("/users", tags=["admin"], summary="Users (no password hashes)")
def api_users(service: ServiceDep, actor: ActorDep) -> JSONResponse:
    return _ok([u.as_dict() for u in service.list_users(actor)])


@router.post("/users", tags=["admin"], status_code=201, summary="Create a user")
def api_create_user(body: UserBody, service: ServiceDep, actor: ActorDep) -> JSONResponse:
    user = service.create_user(actor, body.username, body.password, body.role, body.site_id)
    return _ok(user.as_dict(), 201)


@router.post("/users/{username}/deactivate", tags=["admin"], summary="Deactivate a user")
def api_deactivate_user(username: str, body: ReasonBody, service: ServiceDep,
                        actor: ActorDep) -> JSONResponse:
    return _ok(service.deactivate_user(actor, username, body.reason).as_dict())


@router.post("/sites", tags=["admin"], status_code=201, summary="Create a site")
def api_create_site(body: SiteBody, service: ServiceDep, actor: ActorDep) -> JSONResponse:
    return _ok(service.create_site(actor, body.site_id, body.name, body.country).as_dict(), 201)
