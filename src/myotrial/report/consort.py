"""CONSORT flow diagram as a hand-built, deterministic SVG (no plotting library).

Boxes come from :func:`myotrial.report.summaries.participant_flow` (ADSL flags) and the analysed
numbers from the result objects. Each box is a ``<g>`` with ``data-stage``, ``data-arm`` and
``data-n`` attributes so tests can read the numbers back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

from myotrial.report.summaries import ArmFlow

if TYPE_CHECKING:
    from myotrial.eligibility import ScreeningDecision

__all__ = ["AnalysedCounts", "ScreeningCounts", "consort_svg", "screening_counts"]

WIDTH = 760
SIDE_W = 178
MAIN_W = 178
LINE_H = 13.0
PAD = 6
FONT = 10.0
MAIN_X = (WIDTH / 2 - 12 - MAIN_W, WIDTH / 2 + 12)
SIDE_X = (6.0, WIDTH - 6 - SIDE_W)
LINE = 'fill="none" stroke="#333" stroke-width="0.9"'


@dataclass(frozen=True)
class AnalysedCounts:
    """Patients analysed per arm for the primary and the final-week endpoints (result objects)."""

    primary: dict[str, int]
    primary_label: str
    final: dict[str, int]
    final_label: str


@dataclass(frozen=True)
class ScreeningCounts:
    """Candidates assessed for eligibility and why the excluded were excluded (a candidate with
    several failed criteria is counted under each)."""

    assessed: int
    eligible: int
    excluded: int
    reasons: tuple[tuple[str, int], ...]


def _short(words: str) -> str:
    return words.split(" among:")[0].split(" (")[0]


def screening_counts(decisions: Sequence[ScreeningDecision]) -> ScreeningCounts:
    """Counts for the CONSORT "assessed for eligibility" stage from the screening decisions
    (:func:`myotrial.eligibility.screen_candidates`)."""
    reasons: Counter[str] = Counter()
    for d in decisions:
        if d.eligible is True:
            continue
        failed = [c for c in d.criteria if c.met is False]
        if failed:
            for c in failed:
                text = _short(c.words)
                reasons[text if c.kind == "exclusion" else f"not met: {text}"] += 1
        else:
            reasons["not assessable (missing data)"] += 1
    eligible = sum(1 for d in decisions if d.eligible is True)
    return ScreeningCounts(
        assessed=len(decisions),
        eligible=eligible,
        excluded=len(decisions) - eligible,
        reasons=tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


@dataclass
class _Box:
    stage: str
    arm: str
    n: int
    lines: list[tuple[str, bool]]  # (text, bold)

    @property
    def height(self) -> float:
        return len(self.lines) * LINE_H + 2 * PAD


def _height(box: _Box | None) -> float:
    return 0.0 if box is None else box.height


@lru_cache(maxsize=4096)
def _text_width(text: str, bold: bool) -> float:
    """Width of ``text`` in DejaVu Sans at :data:`FONT` (user units), measured by matplotlib."""
    prop = FontProperties(family="DejaVu Sans", size=FONT, weight="bold" if bold else "normal")
    width, _, _ = TextToPath().get_text_width_height_descent(text, prop, ismath=False)
    return float(width)


def _wrap(
    text: str, bold: bool = False, width: float = MAIN_W - 2 * PAD - 2
) -> list[tuple[str, bool]]:
    """Greedy word wrap to ``width`` using measured text widths (deterministic)."""
    lines: list[str] = []
    current = ""
    for word in text.replace("n = ", "n\u00a0=\u00a0").split(" "):
        if not word:
            continue
        candidate = f"{current} {word}" if current else word
        if current and _text_width(candidate, bold) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return [(line, bold) for line in lines]


def _box_svg(box: _Box, x: float, y: float, width: float, fill: str) -> str:
    parts = [
        f'<g class="consort-box" data-stage="{box.stage}" data-arm={quoteattr(box.arm)} '
        f'data-n="{box.n}">',
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{box.height:.1f}" '
        f'rx="3" fill="{fill}" stroke="#333" stroke-width="0.8"/>',
    ]
    for i, (line, bold) in enumerate(box.lines):
        weight = ' font-weight="bold"' if bold else ""
        parts.append(
            f'<text x="{x + PAD:.1f}" y="{y + PAD + (i + 0.8) * LINE_H:.1f}"{weight}>'
            f"{escape(line)}</text>"
        )
    parts.append("</g>")
    return "".join(parts)


def _reason_lines(reasons: tuple[tuple[str, int], ...]) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    for reason, count in reasons:
        out.extend(_wrap(f"\u2022 {reason}: {count}"))
    return out


def consort_svg(
    flows: tuple[ArmFlow, ...],
    analysed: AnalysedCounts,
    *,
    primary_week: int,
    final_week: int,
    extension_label: str,
    screening: ScreeningCounts | None = None,
    synthetic: bool = False,
) -> str:
    """The participant flow of a two-arm trial as an inline ``<svg>`` element.

    With ``screening`` the flow starts at "Assessed for eligibility" with the excluded
    candidates and their reasons; with ``synthetic`` the diagram says the data are synthetic.
    """
    mains: list[list[_Box]] = []
    sides: list[list[_Box | None]] = []
    for f in flows:
        alloc = _wrap(f.label, True) + _wrap(f"Randomised: n = {f.randomised}")
        if f.deteriorated:
            alloc += _wrap(f"Confirmed deterioration by week {primary_week}: {f.deteriorated}")
        if f.crossed_over:
            alloc += _wrap(f"Crossed over to {extension_label}: {f.crossed_over}")
        main = [
            _Box("allocated", f.arm, f.randomised, alloc),
            _Box(
                "completed_primary",
                f.arm,
                f.completed_w16,
                _wrap(f"Completed week {primary_week}: n = {f.completed_w16}", True),
            ),
            _Box(
                "entered_extension",
                f.arm,
                f.entered_extension,
                _wrap(f"Entered the open-label extension: n = {f.entered_extension}", True),
            ),
            _Box(
                "completed_final",
                f.arm,
                f.completed_final,
                _wrap(f"Completed week {final_week}: n = {f.completed_final}", True),
            ),
            _Box(
                "analysed",
                f.arm,
                analysed.primary.get(f.arm, 0),
                _wrap(f"Analysed, {analysed.primary_label}: n = {analysed.primary.get(f.arm, 0)}")
                + _wrap(f"Analysed, {analysed.final_label}: n = {analysed.final.get(f.arm, 0)}"),
            ),
        ]
        side: list[_Box | None] = [
            _Box(
                "discontinued_randomised",
                f.arm,
                f.discontinued_randomised,
                _wrap(
                    f"Did not complete week {primary_week}: n = {f.discontinued_randomised}", True
                )
                + _reason_lines(f.discontinued_randomised_reasons),
            ),
            _Box(
                "no_extension",
                f.arm,
                f.no_extension,
                _wrap(f"Did not enter the extension: n = {f.no_extension}", True)
                + _reason_lines(f.no_extension_reasons),
            ),
            _Box(
                "discontinued_extension",
                f.arm,
                f.discontinued_extension,
                _wrap(f"Discontinued in the extension: n = {f.discontinued_extension}", True)
                + _reason_lines(f.discontinued_extension_reasons),
            ),
            None,
        ]
        mains.append(main)
        sides.append(side)

    total = sum(f.randomised for f in flows)
    top = _Box("randomised", "all", total, [(f"Randomised: n = {total}", True)])
    body: list[str] = []
    y = 8.0
    top_w = 200.0
    top_x = WIDTH / 2 - top_w / 2
    if screening is not None:
        assessed = _Box(
            "assessed", "all", screening.assessed,
            _wrap(f"Assessed for eligibility: n = {screening.assessed}", True, top_w - 2 * PAD),
        )
        excluded = _Box(
            "excluded", "all", screening.excluded,
            _wrap(f"Excluded: n = {screening.excluded}", True, 260 - 2 * PAD)
            + [
                line
                for reason, count in screening.reasons
                for line in _wrap(f"\u2022 {reason}: {count}", False, 260 - 2 * PAD)
            ],
        )
        body.append(_box_svg(assessed, top_x, y, top_w, "#eef3f8"))
        y_mid = y + assessed.height
        gap = excluded.height + 24
        body.append(
            f'<path d="M{WIDTH / 2:.1f},{y_mid:.1f} V{y_mid + gap - 2:.1f}" {LINE} '
            'marker-end="url(#consort-arrow)"/>'
        )
        ex_x = WIDTH / 2 + 30
        ex_y = y_mid + 12
        body.append(_box_svg(excluded, ex_x, ex_y, 260, "#fbf3ee"))
        body.append(
            f'<path d="M{WIDTH / 2:.1f},{ex_y + excluded.height / 2:.1f} H{ex_x:.1f}" {LINE} '
            'marker-end="url(#consort-arrow)"/>'
        )
        y = y_mid + gap
    body.append(_box_svg(top, top_x, y, top_w, "#eef3f8"))
    y_split = y + top.height + 10
    body.append(f'<path d="M{WIDTH / 2:.1f},{y + top.height:.1f} V{y_split:.1f}" {LINE}/>')
    y = y_split + 14
    for x in MAIN_X[: len(flows)]:
        cx = x + MAIN_W / 2
        body.append(
            f'<path d="M{WIDTH / 2:.1f},{y_split:.1f} H{cx:.1f} V{y - 2:.1f}" '
            f'{LINE} marker-end="url(#consort-arrow)"/>'
        )
    n_stages = len(mains[0]) if mains else 0
    for stage in range(n_stages):
        row_h = max(m[stage].height for m in mains)
        for a, main in enumerate(mains):
            body.append(_box_svg(main[stage], MAIN_X[a], y, MAIN_W, "#ffffff"))
        y_next = y + row_h
        if stage < n_stages - 1:
            side_h = max(_height(s[stage]) for s in sides)
            gap = max(26.0, side_h + 20.0)
            for a, side in enumerate(sides):
                cx = MAIN_X[a] + MAIN_W / 2
                body.append(
                    f'<path d="M{cx:.1f},{y + mains[a][stage].height:.1f} '
                    f'V{y_next + gap - 2:.1f}" {LINE} '
                    f'marker-end="url(#consort-arrow)"/>'
                )
                box = side[stage]
                if box is None:
                    continue
                by = y_next + (gap - box.height) / 2
                body.append(_box_svg(box, SIDE_X[a], by, SIDE_W, "#fbf3ee"))
                edge = SIDE_X[a] + SIDE_W if a == 0 else SIDE_X[a]
                body.append(
                    f'<path d="M{cx:.1f},{by + box.height / 2:.1f} H{edge:.1f}" '
                    f'{LINE} marker-end="url(#consort-arrow)"/>'
                )
            y = y_next + gap
        else:
            y = y_next
    if synthetic:
        y += 14
        body.append(
            f'<text x="{WIDTH - 6}" y="{y:.1f}" text-anchor="end" fill="#b00020" '
            'font-weight="bold" data-synthetic="true">SYNTHETIC DATA \u2014 not patient '
            "data</text>"
        )
    height = y + 8
    return (
        f'<svg class="figure consort" data-figure="consort" role="img" '
        f'aria-label="CONSORT participant flow" xmlns="http://www.w3.org/2000/svg" '
        f'width="{WIDTH}" height="{height:.0f}" viewBox="0 0 {WIDTH} {height:.0f}" '
        f'font-family="DejaVu Sans, Verdana, sans-serif" font-size="{FONT}">'
        '<defs><marker id="consort-arrow" viewBox="0 0 8 8" refX="7" refY="4" '
        'markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L8,4 L0,8 z" '
        'fill="#333"/></marker></defs>' + "".join(body) + "</svg>"
    )
