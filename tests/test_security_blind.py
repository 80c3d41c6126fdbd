"""The blind cannot be broken (issue 12, "Must show"): the attack of the issue is played
against the live application and fails; strata come from recorded data; emergency unblinding
and the two-person rule.

The attack (as found on main before issue 12): the list came from a typed seed, and
``/api/audit`` showed every blinded reader the list's ``n_slots``, ``list_sha256`` and an
unsalted sha256 of seed and scheme; brute-forcing small and date-like seeds found the seed and
regenerated every arm; a site investigator could do the same from their kit codes (same
seeded generator). Now: no seed (OS CSPRNG), nothing of the list in the trail but an HMAC
under the server secret, kit codes drawn apart from the arms and any seed.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

from db_support import protocol_copy
from myotrial.randomisation import (
    RandomisationScheme,
    Randomiser,
    SeededListWarning,
    StratumFactor,
)
from web_support import ARM_PATTERN, WebTrial, arm_leaks, candidate, make_web_trial

BLINDED = ("inv1", "monitor", "bstat", "admin")


def _enrol_both_sites(t: WebTrial, n: int = 8) -> dict[str, str]:
    kits = {}
    for i in range(n):
        sid, who = f"P{i:03d}", "inv1" if i % 2 == 0 else "inv2"
        kits[sid] = t.enrol(sid, who)
    return kits


def _everything_a_blinded_user_gets(t: WebTrial, username: str) -> list[str]:
    user = t.client(username)
    bodies = []
    paths = ["/api/audit", "/api/dashboard", "/api/subjects", "/openapi.json", "/audit",
             "/dashboard", "/subjects", "/exports", "/api/audit/verify", "/admin", "/api/users"]
    paths += [f"/api/exports/{table}?format={fmt}" for table in
              ("subjects", "visits", "infusions", "adverse_events") for fmt in ("csv", "json")]
    paths += [f"/api/subjects/P{i:03d}" for i in range(8)]
    paths += [f"/subjects/P{i:03d}" for i in range(8)]
    paths += ["/api/allocations", "/allocations", "/randomisation",
              "/api/exports/subjects?view=unblinded"]
    for path in paths:
        r = user.get(path)
        bodies.append(f"{r.status_code} {r.text} {dict(r.headers)}")
    for sid in ("P000", "P001"):  # provoked errors
        bodies.append(user.post_json(f"/api/subjects/{sid}/randomise", {}).text)
        bodies.append(user.post_json(f"/api/subjects/{sid}/infusions", {
            "cycle": 1, "start": "2024-03-05T09:00", "end": "2024-03-05T12:00",
            "dose_g_per_kg": 1, "kit_code": "K100000"}).text)
    return bodies


def test_the_attack_of_the_issue_fails(tmp_path: Path) -> None:
    """A blinded reader and a site investigator with their kit codes get nothing from which
    any allocation follows: no seed, digest or length of the list anywhere, no arm words; a
    brute force over small and date-like seeds matches neither the site's kit codes nor
    anything in what they received; the list's entropy is >= 128 bits."""
    t = make_web_trial(tmp_path, seed=None)  # as the web application makes it
    kits = _enrol_both_sites(t)
    received = "\n".join(b for name in BLINDED for b in _everything_a_blinded_user_gets(t, name))
    assert arm_leaks(received) == []
    # the list's audit row: only the HMAC under the server secret and the key's id
    trail = t.client("monitor").get("/api/audit").json()
    rows = [r for r in trail if r["table_name"] == "randomisation_lists"]
    assert len(rows) == 1
    audited = json.loads(rows[0]["new_value"])
    assert set(audited) == {"list_id", "created_at", "source", "list_hmac", "key_id"}
    assert audited["source"] == "csprng"
    allocation_rows = [json.loads(r["new_value"]) for r in trail
                       if r["table_name"] == "allocations"]
    assert allocation_rows and all("sequence" not in a and "slot_id" not in a
                                   for a in allocation_rows)
    with t.service.engine.connect() as conn:
        import sqlalchemy as sa

        from myotrial.db import schema

        lst = conn.execute(sa.select(schema.randomisation_lists)).one()
    assert lst.seed is None
    assert lst.list_sha256 not in received and "n_slots" not in received
    assert "secret_sha256" not in received and lst.scheme_json not in received
    # brute force as on main: small and date-like seeds (the checks main's trail allowed)
    scheme = t.service.protocol_scheme(n_per_stratum=20)
    site_kits = {k for s, k in kits.items() if int(s[1:]) % 2 == 0}
    candidates = [*range(0, 300), *(20240101 + d for d in range(0, 1200, 7))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeededListWarning)
        for seed in candidates:
            guess = Randomiser(scheme, seed).export_list(unblinded=True)
            assert not site_kits & set(guess["kit_code"]), seed
            assert Randomiser(scheme, seed).list_sha256 not in received
    # entropy: the web's list draws from the OS CSPRNG
    assert (Randomiser(RandomisationScheme()).entropy_bits or 0) >= 128
    assert Randomiser(t.service.protocol_scheme(n_per_stratum=4)).source == "csprng"


def test_even_the_right_seed_gives_no_kit_codes(tmp_path: Path) -> None:
    """With a validation seed (command line only) the arms are reproducible, but the kit
    codes are not: a site cannot locate its patients in a regenerated list by their kits."""
    t = make_web_trial(tmp_path, seed=2022)
    kits = set(_enrol_both_sites(t, 4).values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeededListWarning)
        again = Randomiser(t.service.protocol_scheme(n_per_stratum=20), 2022)
    assert not kits & set(again.export_list(unblinded=True)["kit_code"])


def test_the_list_hmac_is_checked_with_the_server_key_only(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from myotrial.db import verify_audit_chain

    t = make_web_trial(tmp_path, seed=None)
    engine = t.service.engine
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE randomisation_lists SET n_slots = n_slots + 1"))
        conn.execute(sa.text("UPDATE randomisation_lists SET list_sha256 = 'x'"))
    kinds = {p.kind for p in verify_audit_chain(engine, list_key=t.service._list_key).problems}
    assert "list_changed" in kinds
    assert t.client("monitor").get("/api/audit/verify").json()["ok"] is False


# ----------------------------------------------------------------------------------------------
# strata from recorded data


def _site_stratified(tmp_path: Path) -> WebTrial:
    path = protocol_copy(tmp_path / "protocols", name="proderm")
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^strata = \[\]( +# UNCONFIRMED)", r'strata = ["site"]\1', text, count=1)
    path.write_text(text, encoding="utf-8")
    return make_web_trial(tmp_path, protocol=path, n_per_stratum=8, seed=None,
                          factors=(StratumFactor("site", ("01", "02")),))


def test_the_investigator_cannot_pick_the_stratum(tmp_path: Path) -> None:
    t = _site_stratified(tmp_path)
    inv1 = t.client("inv1")
    t.service.record_screening(t.actors["inv1"], candidate("S1"))
    t.service.record_visit(t.actors["inv1"], "S1", 0, {"pga": 4, "ptga": 4,
                                                        "extramuscular": 3, "mmt8": 120,
                                                        "haq": 1, "ck": 1000, "ck_uln": 200})
    r = inv1.post_json("/api/subjects/S1/randomise", {"stratum": "site=02"})
    assert r.status_code == 422 and "stratum" in r.text  # cannot be typed
    r = inv1.post_json("/api/subjects/S1/randomise", {})
    assert r.status_code == 201 and r.json()["stratum"] == "site=01"
    assert "sequence" not in r.json()  # the position in the list stays on the server
    frame = t.service.list_allocations(t.actors["ustat"])
    assert frame.loc[frame["subject_id"] == "S1", "stratum"].iloc[0] == "site=01"


# ----------------------------------------------------------------------------------------------
# emergency unblinding


def test_emergency_unblinding_one_patient_audited_and_flagged(tmp_path: Path) -> None:
    t = make_web_trial(tmp_path, seed=None)
    _enrol_both_sites(t, 4)
    inv1 = t.client("inv1")
    assert inv1.post_json("/api/subjects/P000/emergency-unblinding",
                          {"reason": ""}).status_code == 422
    r = inv1.post_json("/api/subjects/P000/emergency-unblinding",
                       {"reason": "anaphylaxis during infusion"})
    assert r.status_code == 201
    assert r.json()["arm"] == t.arm_of("P000") and ARM_PATTERN.search(r.json()["arm_label"])
    # another site's investigator: not found; other roles: refused
    assert t.client("inv2").post_json("/api/subjects/P000/emergency-unblinding",
                                      {"reason": "x"}).status_code == 404
    for name in ("monitor", "bstat", "ustat", "admin"):
        assert t.client(name).post_json("/api/subjects/P000/emergency-unblinding",
                                        {"reason": "x"}).status_code == 403
    # shown to that investigator only: the trail, dashboard and exports flag it, without arm
    monitor = t.client("monitor")
    trail = monitor.get("/api/audit").text
    assert "emergency_unblindings" in trail and "anaphylaxis" in trail
    assert arm_leaks(trail) == []
    dash = monitor.get("/api/dashboard").json()
    assert dash["emergency_unblindings"] == [{"subject_id": "P000", "site_id": "01"}]
    assert "emergency-unblindings" in monitor.get("/dashboard").text
    subjects = {r["subject_id"]: r for r in
                monitor.get("/api/exports/subjects?format=json").json()}
    assert subjects["P000"]["emergency_unblinded"] is True
    assert subjects["P002"]["emergency_unblinded"] is False
    assert "EMERGENCY UNBLINDED" in inv1.get("/subjects/P000").text
    assert arm_leaks(inv1.get("/subjects/P000").text) == []  # the arm was shown once only


# ----------------------------------------------------------------------------------------------
# two-person rule


def test_one_administrator_cannot_create_an_unblinded_account_and_read_alone(
        tmp_path: Path) -> None:
    t = make_web_trial(tmp_path)
    admin, admin2 = t.client("admin"), t.client("admin2")
    r = admin.post_json("/api/users", {"username": "ustat2", "password": "violet canyon "
                                       "pebble", "role": "unblinded_statistician"})
    assert r.status_code == 201 and r.json()["active"] is False
    assert r.json()["approval_requested_by"] == "admin"
    intruder = t.client()
    csrf = intruder.get("/api/session").json()["csrf_token"]
    login = intruder.http.post("/api/login", json={"username": "ustat2", "password":
                                                   "violet canyon pebble"},
                               headers={"X-CSRF-Token": csrf})
    assert login.status_code == 401  # not active until a SECOND administrator approves
    assert admin.post_json("/api/users/ustat2/approve").status_code == 403
    assert admin2.post_json("/api/users/ustat2/approve").status_code == 200
    ok = t.client()
    ok.login("ustat2", "violet canyon pebble")
    assert ok.get("/api/allocations").status_code == 200
    # reactivation and password reset of an unblinded account need the second one too
    assert admin.post_json("/api/users/ustat2/deactivate", {"reason": "left"}).status_code == 200
    r = admin.post_json("/api/users/ustat2/reactivate", {"reason": "back"})
    assert r.status_code == 200 and r.json()["active"] is False
    assert admin2.post_json("/api/users/ustat2/approve").status_code == 200
    r = admin.post_json("/api/users/ustat2/password", {"new_password": "amber tundra "
                                                       "whistle", "reason": "forgotten"})
    assert r.status_code == 200 and r.json()["active"] is False
    taken = t.client()
    csrf = taken.get("/api/session").json()["csrf_token"]
    assert taken.http.post("/api/login", json={"username": "ustat2", "password":
                                               "amber tundra whistle"},
                           headers={"X-CSRF-Token": csrf}).status_code == 401
    # a second administrator created in the application is pending too
    r = admin.post_json("/api/users", {"username": "admin3", "password": "copper meadow "
                                       "signal", "role": "administrator"})
    assert r.json()["active"] is False
