"""Browser test: the TIS calculator in Debian's chromium (Playwright, headless)."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser import CHROMIUM, chromium_page, live_server
from myotrial.web import create_app

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="Debian chromium not installed (make test installs it)")


def test_calculator_in_chromium(tmp_path: Path) -> None:
    with live_server(create_app()) as url, chromium_page() as page:
        page.goto(f"{url}/calculator")
        values = {"pga": ("6", "2"), "ptga": ("6", "3"), "extramuscular": ("4", "1"),
                  "mmt8": ("120", "138"), "haq": ("1.5", "0.75"), "ck": ("1200", "300")}
        for key, (base, follow) in values.items():
            page.fill(f"#{key}__baseline", base)
            page.fill(f"#{key}__follow_up", follow)
        page.fill("#ck__uln", "200")
        page.click("#calculate")
        page.wait_for_selector("#result")
        assert page.inner_text("#tis") == "TIS 75 / 100"
        assert "major" in page.inner_text("#category")
        assert page.inner_text("#doi") == "met"
        page.screenshot(path=str(tmp_path / "calculator.png"), full_page=True)
        assert (tmp_path / "calculator.png").stat().st_size > 10_000
        # a wrong value is reported and nothing else is lost
        page.fill("#pga__follow_up", "twelve")
        page.click("#calculate")
        assert "is not a number" in page.inner_text("#errors")
        assert page.input_value("#mmt8__follow_up") == "138"
