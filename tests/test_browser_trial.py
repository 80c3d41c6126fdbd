"""Browser test of the trial workflow in Debian's chromium (Playwright, headless):
log in -> screen -> baseline -> randomise -> visits -> confirmed deterioration -> crossover ->
infusion -> adverse event within 72 h flagged (and a thromboembolic one highlighted), with a
check on every page that the site investigator never sees an allocation. Then the unblinded
statistician's dashboard shows the same deterioration by arm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from browser import CHROMIUM, chromium_page, live_server
from web_support import BASELINE, PASSWORD, arm_leaks, candidate, make_web_trial

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Debian chromium not installed (make test installs it)")

WORSE = {**BASELINE, "pga": 7.0, "ptga": 7.0, "extramuscular": 6.0, "mmt8": 100.0}


def _blind(page: Any, where: str) -> None:
    leaks = arm_leaks(page.content())
    assert leaks == [], f"{where}: {leaks}"


def _login(page: Any, url: str, username: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#submit-login")
    page.wait_for_selector("#who")


def _visit(page: Any, week: int, measures: dict[str, float]) -> None:
    page.fill("#visit_week", str(week))
    for key, value in measures.items():
        page.fill(f"#visit-{key}", f"{value:g}")
    page.click("#save-visit")
    page.wait_for_selector("#notice, #errors")


def test_screen_randomise_visits_deterioration_crossover_and_safety(tmp_path: Path) -> None:
    trial = make_web_trial(tmp_path)
    with live_server(trial.app) as url, chromium_page() as page:
        _login(page, url, "inv1")
        _blind(page, "dashboard")
        # screening: the verdict and its reasons
        page.click("#nav-screening")
        row = candidate("B001")
        for key, value in row.items():
            if value is None or not page.locator(f"#{key}").count():
                continue
            if isinstance(value, bool) or str(value).lower() in ("true", "false"):
                page.select_option(f"#{key}", str(value).lower())
            else:
                page.fill(f"#{key}", str(value))
        page.click("#screen")
        assert page.inner_text("#verdict-status") == "eligible"
        _blind(page, "screening")
        page.click("#to-subject")
        # baseline, then randomisation reveals a kit code only
        _visit(page, 0, BASELINE)
        page.click("#randomise")
        page.wait_for_selector("#result-kit")
        kit = page.inner_text("#result-kit")
        assert kit.startswith("K") and page.inner_text("#kit-code") == kit
        _blind(page, "randomised")
        # week 4 worsening, week 8 confirms the deterioration: alert and crossover
        _visit(page, 4, WORSE)
        assert page.inner_text("#visit-tis") == "TIS 0"
        assert page.inner_text("#visit-clauses") == "B, C"
        assert not page.locator("#deterioration-alert").count()
        _visit(page, 8, WORSE)
        assert page.inner_text("#visit-cd") == "yes"
        alert = page.inner_text("#deterioration-alert")
        assert "Confirmed clinical deterioration" in alert and "week 8" in alert
        assert "confirmed deterioration per protocol" in page.inner_text(
            "#deterioration-recorded")
        assert page.locator("#timeline-plot circle").count() == 2  # weeks 4 and 8 (no TIS at 0)
        _blind(page, "deterioration")
        # an infusion, then an adverse event 30 h after it: infusion-related
        page.fill("#inf-cycle", "1")
        page.fill("#inf-start", "2024-03-02T09:00")
        page.fill("#inf-end", "2024-03-02T14:00")
        page.fill("#inf-dose", "1")
        page.fill("#inf-rate", "0.02")
        page.click("#save-infusion")
        page.wait_for_selector("#notice")
        page.fill("#ae-term", "headache")
        page.fill("#ae-onset", "2024-03-03T20:00")
        page.select_option("#ae-severity", "mild")
        page.click("#save-ae")
        page.wait_for_selector("#ae-infusion-related")
        assert "infusion-related" in page.inner_text("#ae-infusion-related")
        assert "cycle 1" in page.inner_text("#ae-infusion-related")
        # a thromboembolic event is highlighted
        page.fill("#ae-term", "deep vein thrombosis")
        page.fill("#ae-onset", "2024-04-20T08:00")
        page.select_option("#ae-severity", "severe")
        page.check("#ae-te")
        page.click("#save-ae")
        page.wait_for_selector("#ae-thromboembolic")
        assert "THROMBOEMBOLIC" in page.inner_text("#adverse-events")
        assert "not infusion-related" in page.inner_text("#ae-infusion-related")
        _blind(page, "safety")
        page.screenshot(path=str(tmp_path / "timeline.png"), full_page=True)
        assert (tmp_path / "timeline.png").stat().st_size > 20_000
        # bad input in the browser: a clear error, the values kept
        _visit(page, 12, {**WORSE, "pga": 14})
        assert "must be between 0 and 10" in page.inner_text("#errors")
        assert page.input_value("#visit-pga") == "14"
        # the dashboard lists the open deterioration, pooled
        page.goto(f"{url}/dashboard")
        assert "B001" in page.inner_text("#deteriorations")
        assert "Pooled" in page.inner_text("#view")
        _blind(page, "dashboard after")
        page.click("#logout")
        # the unblinded statistician sees the crossover by arm
        _login(page, url, "ustat")
        page.goto(f"{url}/dashboard")
        assert page.locator("#by-arm").count() == 1
        arm = trial.arm_of("B001")
        row_text = page.inner_text("#deteriorations")
        assert arm in row_text
        if arm == "placebo":
            assert "placebo → ivig" in row_text
