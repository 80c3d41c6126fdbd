"""The patient timeline plot as a server-rendered SVG (no JavaScript, no external assets).

Top panel: TIS by visit week with the improvement thresholds of the protocol's population
(adult 20/40/60, juvenile 30/45/70: passed in, from ``ProtocolPolicy.threshold_values``);
worsening visits in orange, confirmed deterioration in red, the week of a confirmed
deterioration as a vertical line (the same for every arm; the unblinded view adds the
switch). Bottom panel: each core set measure as percent change from baseline, signed so that
up is better (MMT-8 up, the others down), clipped to +/-100 %; adverse events as triangles on
the week axis (thromboembolic in red, infusion-related filled), infusion days as ticks.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

__all__ = ["render_timeline_svg"]

WIDTH, HEIGHT = 760, 470
LEFT, RIGHT = 56, 150
TOP_Y0, TOP_H = 30, 190
BOT_Y0, BOT_H = 270, 150
COLOURS = {"pga": "#1f77b4", "ptga": "#2ca02c", "extramuscular": "#9467bd", "mmt8": "#8c564b",
           "haq": "#e377c2", "chaq": "#e377c2", "ck": "#7f7f7f"}
LABELS = {"pga": "PGA", "ptga": "PtGA", "extramuscular": "Extramuscular", "mmt8": "MMT-8",
          "haq": "HAQ", "chaq": "CHAQ", "ck": "CK"}


def _week_of(when: Any, start: dt.datetime | None) -> float | None:
    if when is None or start is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(when))
    except ValueError:
        return None
    return (moment - start).total_seconds() / (7 * 86400)


#: Longest axis drawn (weeks), whatever the data: the protocol's end bounds it (issue 12: a
#: week of 2^40 once drew ticks until memory ran out).
AXIS_LIMIT_WEEKS = 520.0


def render_timeline_svg(data: dict[str, Any], thresholds: tuple[float, ...],
                        last_week: float = 40.0) -> str:
    """SVG text of the timeline of :func:`myotrial.web.views.timeline` output ``data``, with
    dashed lines at the TIS category ``thresholds`` (minimal, moderate, major). The week axis
    runs to the protocol's ``last_week`` (a little beyond when events lie later), never past
    :data:`AXIS_LIMIT_WEEKS` nor twice the protocol: later points sit at the axis' end."""
    visits = data.get("visits", [])
    subject = data["subject"]
    start = (dt.datetime.fromisoformat(subject["randomised_at"])
             if subject.get("randomised_at") else None)
    weeks = [float(v["visit_week"]) for v in visits]
    extra = [w for w in (_week_of(e.get("onset"), start) for e in data.get("adverse_events", []))
             if w is not None]
    bound = min(AXIS_LIMIT_WEEKS, 2 * max(float(last_week), 1.0))
    max_week = min(bound, max([float(last_week), *weeks, *extra]))
    plot_w = WIDTH - LEFT - RIGHT

    def x(week: float) -> float:
        return LEFT + plot_w * max(0.0, min(week, max_week)) / max_week

    def y_top(tis: float) -> float:
        return TOP_Y0 + TOP_H * (1 - tis / 100)

    def y_bot(pct: float) -> float:
        return BOT_Y0 + BOT_H * (1 - (max(-100.0, min(100.0, pct)) + 100) / 200)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'width="{WIDTH}" height="{HEIGHT}" role="img" id="timeline-plot" '
           f'aria-label="TIS and core set measures of subject {escape(subject["subject_id"])}" '
           'font-family="sans-serif" font-size="11">']
    # frames and axes
    for y0, h, title in ((TOP_Y0, TOP_H, "Total Improvement Score"),
                         (BOT_Y0, BOT_H,
                          "Core set measures: % change from baseline (up = better)")):
        out.append(f'<rect x="{LEFT}" y="{y0}" width="{plot_w}" height="{h}" fill="none" '
                   'stroke="#999"/>')
        out.append(f'<text x="{LEFT}" y="{y0 - 8}" font-weight="bold">{escape(title)}</text>')
    step = 4 if max_week <= 52 else 8
    for week in range(0, int(max_week) + 1, step):
        for y0, h in ((TOP_Y0, TOP_H), (BOT_Y0, BOT_H)):
            out.append(f'<line x1="{x(week):.1f}" x2="{x(week):.1f}" y1="{y0 + h}" '
                       f'y2="{y0 + h + 4}" stroke="#666"/>')
        out.append(f'<text x="{x(week):.1f}" y="{BOT_Y0 + BOT_H + 16}" '
                   f'text-anchor="middle">{week}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" text-anchor="middle">'
               'week</text>')
    for tis in (0, 20, 40, 60, 80, 100):
        out.append(f'<text x="{LEFT - 6}" y="{y_top(tis) + 4:.1f}" text-anchor="end">{tis}'
                   '</text>')
    for level in thresholds:
        out.append(f'<line class="tis-threshold" data-tis="{level:g}" x1="{LEFT}" '
                   f'x2="{LEFT + plot_w}" y1="{y_top(level):.1f}" y2="{y_top(level):.1f}" '
                   'stroke="#bbb" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{LEFT + plot_w + 4}" y="{y_top(level) + 4:.1f}" fill="#888">'
                   f'TIS {level:g}</text>')
    for pct in (-100, -50, 0, 50, 100):
        out.append(f'<text x="{LEFT - 6}" y="{y_bot(pct) + 4:.1f}" text-anchor="end">{pct}'
                   '</text>')
    out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y_bot(0):.1f}" y2="{y_bot(0):.1f}" '
               'stroke="#bbb"/>')
    event = subject.get("deterioration")
    if event:
        cx = x(float(event["confirmed_week"]))
        out.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{TOP_Y0}" y2="{BOT_Y0 + BOT_H}" '
                   'stroke="#a3262b" stroke-width="2" stroke-dasharray="6 3"/>')
        label = escape(str(event["description"]))
        switch = (data.get("unblinded") or {}).get("crossover_to")
        if switch:  # unblinded view only
            label += f" (switch to {escape(str(switch))})"
        out.append(f'<text x="{cx + 4:.1f}" y="{TOP_Y0 + 12}" fill="#a3262b">{label}</text>')
    # TIS line and points
    points = [(float(v["visit_week"]), float(v["tis"])) for v in visits if v["tis"] is not None]
    if len(points) > 1:
        path = " ".join(f"{x(w):.1f},{y_top(t):.1f}" for w, t in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="#1f5f8b" stroke-width="2"/>')
    for v in visits:
        if v["tis"] is None:
            continue
        colour = ("#a3262b" if v["cd_confirmed"] else "#e07b00" if v["worsening"]
                  else "#1f5f8b")
        note = (" confirmed deterioration" if v["cd_confirmed"] else
                " worsening" if v["worsening"] else "")
        out.append(f'<circle cx="{x(float(v["visit_week"])):.1f}" cy="{y_top(v["tis"]):.1f}" '
                   f'r="4.5" fill="{colour}"><title>week {v["visit_week"]}: TIS '
                   f'{v["tis"]:g}{note}</title></circle>')
    # measures, % change from baseline
    base = next((v for v in visits if v["visit_week"] == 0), None)
    legend_y = BOT_Y0 + 4
    for measure, colour in COLOURS.items():
        b = None if base is None else base.get(measure)
        if not b:
            continue
        pts = []
        for v in visits:
            val = v.get(measure)
            if val is None:
                continue
            pct = (val - b) / b * 100 if measure == "mmt8" else (b - val) / b * 100
            pts.append((float(v["visit_week"]), pct))
        if not pts:
            continue
        path = " ".join(f"{x(w):.1f},{y_bot(p):.1f}" for w, p in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                   'stroke-width="1.5"/>')
        out.append(f'<line x1="{WIDTH - RIGHT + 12}" x2="{WIDTH - RIGHT + 30}" y1="{legend_y}" '
                   f'y2="{legend_y}" stroke="{colour}" stroke-width="2"/>'
                   f'<text x="{WIDTH - RIGHT + 34}" y="{legend_y + 4}">{LABELS[measure]}</text>')
        legend_y += 16
    # infusions (ticks) and adverse events (triangles) on the week axis
    axis = BOT_Y0 + BOT_H
    for inf in data.get("infusions", []):
        w = _week_of(inf.get("start"), start)
        if w is not None:
            out.append(f'<line x1="{x(w):.1f}" x2="{x(w):.1f}" y1="{axis - 8}" y2="{axis}" '
                       'stroke="#1f5f8b" stroke-width="2"><title>infusion, cycle '
                       f'{inf.get("cycle")}</title></line>')
    for ae in data.get("adverse_events", []):
        w = _week_of(ae.get("onset"), start)
        if w is None:
            continue
        colour = "#a3262b" if ae.get("thromboembolic") else "#e07b00"
        fill = colour if ae.get("infusion_related") else "white"
        cx = x(w)
        out.append(f'<polygon points="{cx:.1f},{axis - 20} {cx - 6:.1f},{axis - 10} '
                   f'{cx + 6:.1f},{axis - 10}" fill="{fill}" stroke="{colour}" '
                   f'stroke-width="1.5"><title>{escape(str(ae.get("term")))}</title></polygon>')
    out.append(f'<text x="{WIDTH - RIGHT + 12}" y="{TOP_Y0 + 10}">● TIS</text>')
    out.append(f'<text x="{WIDTH - RIGHT + 12}" y="{TOP_Y0 + 26}" fill="#e07b00">● worsening'
               '</text>')
    out.append(f'<text x="{WIDTH - RIGHT + 12}" y="{TOP_Y0 + 42}" fill="#a3262b">● confirmed '
               'deterioration</text>')
    out.append(f'<text x="{WIDTH - RIGHT + 12}" y="{axis - 10}">▲ adverse event</text>')
    out.append("</svg>")
    return "\n".join(out)
