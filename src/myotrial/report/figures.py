"""Report figures as deterministic inline SVG (matplotlib, object-oriented API, no pyplot).

Determinism: every figure is saved inside :func:`matplotlib.rc_context` with a fixed
``svg.hashsalt`` (per figure, so clip-path ids differ between figures), ``metadata={"Date":
None}``, DejaVu Sans (shipped with matplotlib) drawn as paths (``svg.fonttype = "path"``: the
SVG needs no installed font). Ids are then prefixed with the figure's name so that several
figures can live in one HTML document. Same input -> byte-identical SVG.

Plotted numbers: the Kaplan-Meier curves, medians, log-rank p-values and the forest plot come
from the result objects; the by-visit series from :mod:`myotrial.report.summaries`.
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import matplotlib
import matplotlib.colors
import matplotlib.patches
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from myotrial.analysis import EndpointResult, SensitivityResult
from myotrial.protocol import Protocol
from myotrial.report.formatting import format_median, format_number, format_p_equals
from myotrial.report.summaries import MSA_LABELS
from myotrial.stats import SubgroupResult, tipping_point_grid

__all__ = [
    "ARM_COLOURS",
    "SUBGROUP_LABELS",
    "ForestRow",
    "RenderedFigure",
    "figure_csm_changes",
    "figure_forest",
    "figure_kaplan_meier",
    "figure_mean_tis",
    "figure_responses",
    "figure_tipping_point",
    "forest_rows",
    "scope_svg_ids",
    "short_arm",
    "svg_of",
]

#: Okabe-Ito colours (colour-blind safe): treatment blue, control vermillion.
ARM_COLOURS = ("#0072B2", "#D55E00")
SUBGROUP_LABELS: dict[str, str] = {
    "MSAGRP": "Antibody group",
    "SEX": "Sex",
    "AGEGR": "Age",
}
LEVEL_LABELS: dict[str, dict[str, str]] = {
    "MSAGRP": MSA_LABELS,
    "SEX": {"F": "Female", "M": "Male"},
}
_RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 8.0,
    "svg.fonttype": "none",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9.0,
    "axes.titleweight": "bold",
    "legend.frameon": False,
    "lines.linewidth": 1.4,
    "path.simplify": False,
}

#: Resolution of the PNG copies embedded in the PDF.
PNG_DPI = 130

_ID = re.compile(r'\bid="([^"]+)"')


def scope_svg_ids(svg: str, prefix: str) -> str:
    """Prefix every ``id`` of ``svg`` and every reference to it (``#id``) with ``prefix-``."""
    ids = set(_ID.findall(svg))
    if not ids:
        return svg

    def ref(match: re.Match[str]) -> str:
        name = match.group(2)
        return f"{match.group(1)}{prefix}-{name}" if name in ids else match.group(0)

    svg = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    return re.sub(r'((?:href="|url\()#)([^")]+)', ref, svg)


@dataclass(frozen=True)
class RenderedFigure:
    """One figure: inline SVG for the HTML, optional PNG for the PDF, and its size in points."""

    name: str
    svg: str
    png: bytes | None
    width_pt: float
    height_pt: float

    def img_tag(self) -> str:
        """The PNG as an ``<img>`` with a data URI, at the figure's size (for the PDF)."""
        if self.png is None:
            return self.svg
        data = base64.b64encode(self.png).decode("ascii")
        return (
            f'<img class="figure" data-figure="{self.name}" alt="{self.name}" '
            f'style="width: {self.width_pt:.1f}pt; max-width: 100%" '
            f'src="data:image/png;base64,{data}">'
        )


def svg_of(fig: Figure, name: str, *, title: str | None = None) -> str:
    """``fig`` as an inline ``<svg>`` element (no XML prolog), deterministic, ids scoped."""
    buf = io.StringIO()
    with _style({"svg.hashsalt": f"myotrial-{name}"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = scope_svg_ids(text, name)
    label = f' role="img" aria-label="{_xml(title)}"' if title else ' role="img"'
    return text.replace("<svg ", f'<svg class="figure" data-figure="{name}"{label} ', 1)


#: Stamped on every figure of a report on synthetic data.
SYNTHETIC_MARK = "SYNTHETIC DATA \u2014 not patient data"


def _finish(
    fig: Figure, name: str, title: str, png: bool, synthetic: bool = False
) -> RenderedFigure:
    if synthetic:
        fig.text(
            0.995,
            0.005,
            SYNTHETIC_MARK,
            ha="right",
            va="bottom",
            fontsize=6.5,
            color="#b00020",
            fontweight="bold",
            gid="synthetic-mark",
        )
    svg = svg_of(fig, name, title=title)
    data = None
    if png:
        buf = io.BytesIO()
        with _style():
            fig.savefig(buf, format="png", dpi=PNG_DPI, metadata={"Software": None})
        data = buf.getvalue()
    w, h = fig.get_size_inches()
    return RenderedFigure(name, svg, data, float(w) * 72, float(h) * 72)


def _style(extra: dict[str, Any] | None = None) -> AbstractContextManager[None]:
    """The report's matplotlib settings, for the duration of a ``with`` block only."""
    rc: Any = {**_RC, **(extra or {})}
    return matplotlib.rc_context(rc)


def short_arm(code: str) -> str:
    """A short display name of an arm code: acronyms upper case (``IVIG``), else capitalised."""
    return code.upper() if len(code) <= 4 else code[:1].upper() + code[1:]


def _xml(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _figure(width: float, height: float) -> Figure:
    with _style():
        return Figure(figsize=(width, height))


def _margins(fig: Figure, *, left: float, right: float, bottom: float, top: float) -> None:
    """Fixed margins in inches (a layout engine would cost more time than the drawing)."""
    w, h = fig.get_size_inches()
    fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h)


def _arms(proto: Protocol) -> list[tuple[str, str, str]]:
    return [
        (proto.treatment.code, proto.treatment.label, ARM_COLOURS[0]),
        (proto.control.code, proto.control.label, ARM_COLOURS[1]),
    ]


def _period_line(ax: Axes, proto: Protocol) -> None:
    ax.axvline(proto.randomised_end_week, color="#777777", lw=0.8, ls=":")


def _mean_ci(
    ax: Axes, rows: pd.DataFrame, offset: float, colour: str, label: str, *, ms: float, lw: float
) -> None:
    """Means joined by a line, with their confidence intervals as vertical bars."""
    x = rows["week"].to_numpy(dtype=float) + offset
    ok = rows["lower"].notna().to_numpy()
    ax.vlines(x[ok], rows["lower"][ok], rows["upper"][ok], color=colour, lw=lw * 0.8)
    ax.plot(x, rows["mean"], marker="o", ms=ms, color=colour, label=label, lw=lw)


def _legend_below(fig: Figure, ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=2, bbox_to_anchor=(0.5, 0.0))


def figure_responses(
    responses: pd.DataFrame, proto: Protocol, *, png: bool = False, synthetic: bool = False
) -> RenderedFigure:
    """The seed's Figure 2: % with at least minimal / moderate / major improvement by visit."""
    with _style():
        cats = list(dict.fromkeys(responses["category"]))
        fig = _figure(6.5, 2.6)
        axes = fig.subplots(1, max(len(cats), 1), sharey=True, squeeze=False)[0]
        _margins(fig, left=0.55, right=0.1, bottom=0.85, top=0.3)
        fig.subplots_adjust(wspace=0.12)
        for ax, cat in zip(axes, cats, strict=False):
            sub = responses[responses["category"] == cat]
            for code, label, colour in _arms(proto):
                s = sub[sub["arm"] == code]
                ax.plot(s["week"], s["pct"], marker="o", ms=3, color=colour, label=label)
            thr = float(sub["threshold"].iloc[0]) if len(sub) else math.nan
            ax.set_title(f"\u2265 {cat} (TIS \u2265 {thr:g})", fontsize=8.5)
            ax.set_xticks(list(proto.assessment_weeks[1:]))
            ax.set_xlabel("Week")
            ax.set_ylim(0, 100)
            _period_line(ax, proto)
        axes[0].set_ylabel("Patients (%)")
        _legend_below(fig, axes[0])
        return _finish(fig, "fig-responses", "Response categories by visit", png, synthetic)


def figure_mean_tis(
    means: pd.DataFrame,
    proto: Protocol,
    conf_level: float,
    *,
    png: bool = False,
    synthetic: bool = False,
) -> RenderedFigure:
    """Mean TIS by visit and original arm with its confidence interval."""
    with _style():
        fig = _figure(5.0, 2.7)
        ax = fig.subplots()
        _margins(fig, left=0.6, right=0.1, bottom=0.45, top=0.1)
        offsets = (-0.3, 0.3)
        for (code, label, colour), off in zip(_arms(proto), offsets, strict=True):
            _mean_ci(ax, means[means["arm"] == code], off, colour, label, ms=3.0, lw=1.4)
        ax.set_xticks(list(proto.assessment_weeks[1:]))
        ax.set_xlabel("Week")
        ax.set_ylabel(f"Mean TIS ({conf_level:.0%} CI)")
        ax.set_ylim(0, 100)
        _period_line(ax, proto)
        ax.legend(loc="upper left")
        return _finish(fig, "fig-mean-tis", "Mean TIS by visit", png, synthetic)


def figure_csm_changes(
    changes: Mapping[str, tuple[str, pd.DataFrame]],
    proto: Protocol,
    conf_level: float,
    *,
    png: bool = False,
    synthetic: bool = False,
) -> RenderedFigure:
    """Mean change from baseline of each core set measure by visit (small multiples)."""
    with _style():
        n = max(len(changes), 1)
        ncols = 3
        nrows = math.ceil(n / ncols)
        fig = _figure(6.5, 1.65 * nrows + 0.75)
        axes = [fig.add_subplot(nrows, ncols, k + 1) for k in range(len(changes))]
        _margins(fig, left=0.65, right=0.1, bottom=0.75, top=0.25)
        fig.subplots_adjust(wspace=0.3, hspace=0.45)
        for ax, (label, df) in zip(axes, changes.values(), strict=False):
            for (code, arm_label, colour), off in zip(_arms(proto), (-0.4, 0.4), strict=True):
                _mean_ci(ax, df[df["arm"] == code], off, colour, arm_label, ms=2.5, lw=1.1)
            ax.axhline(0, color="#999999", lw=0.6)
            _period_line(ax, proto)
            ax.set_title(label, fontsize=8)
            ax.set_xticks(list(proto.assessment_weeks[1:]))
            ax.tick_params(labelsize=7)
        _legend_below(fig, axes[0])
        fig.supxlabel("Week", fontsize=8, y=0.33 / fig.get_figheight())
        fig.supylabel(f"Mean change from baseline ({conf_level:.0%} CI)", fontsize=8)
        return _finish(fig, "fig-csm", "Core set measure changes by visit", png, synthetic)


def _km_panel(ax: Axes, ep: EndpointResult, proto: Protocol) -> None:
    for code, label, colour in _arms(proto):
        km = ep.km.get(code)
        if km is None:
            continue
        tab = km.table
        t = np.concatenate([[0.0], tab["time"].to_numpy(dtype=float)])
        cum = np.concatenate([[0.0], 1.0 - tab["surv"].to_numpy(dtype=float)])
        lo = np.concatenate([[0.0], 1.0 - tab["upper"].to_numpy(dtype=float)])
        hi = np.concatenate([[0.0], 1.0 - tab["lower"].to_numpy(dtype=float)])
        ax.step(t, 100 * cum, where="post", color=colour, label=label)
        ax.fill_between(
            t,
            100 * np.nan_to_num(lo),
            100 * np.nan_to_num(hi, nan=1.0),
            step="post",
            color=colour,
            alpha=0.12,
            lw=0,
        )
        cens = tab[tab["n_censor"] > 0]
        if len(cens):
            surv = tab["surv"].to_numpy(dtype=float)
            idx = np.searchsorted(tab["time"].to_numpy(dtype=float), cens["time"].to_numpy())
            ax.plot(cens["time"], 100 * (1 - surv[idx]), "|", color=colour, ms=4)
    title = ep.label.replace("Time to ", "")
    title = title[:1].upper() + title[1:]
    medians = " vs ".join(
        format_median(ep.km[code].median) for code, _, _ in _arms(proto) if code in ep.km
    )
    p = "" if ep.test is None else f"; log-rank {format_p_equals(ep.test.p_value)}"
    ax.set_title(f"{title}\nmedian days {medians}{p}", fontsize=7.5)
    ax.set_ylim(0, 100)


def figure_kaplan_meier(
    endpoints: Sequence[EndpointResult],
    proto: Protocol,
    *,
    png: bool = False,
    synthetic: bool = False,
) -> RenderedFigure:
    """Kaplan-Meier cumulative incidence (1 - S) of each time-to-event endpoint by arm."""
    with _style():
        n = max(len(endpoints), 1)
        ncols = 2
        nrows = math.ceil(n / ncols)
        fig = _figure(6.5, 2.3 * nrows + 0.8)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        _margins(fig, left=0.65, right=0.1, bottom=0.85, top=0.4)
        fig.subplots_adjust(wspace=0.2, hspace=0.55)
        for ax, ep in zip(axes, endpoints, strict=False):
            _km_panel(ax, ep, proto)
        for ax in axes[len(endpoints) :]:
            ax.set_visible(False)
        _legend_below(fig, axes[0])
        fig.supxlabel("Days since randomisation", fontsize=8, y=0.36 / fig.get_figheight())
        fig.supylabel("Patients with the event (%)", fontsize=8)
        return _finish(fig, "fig-km", "Kaplan-Meier curves", png, synthetic)


@dataclass(frozen=True)
class ForestRow:
    """A display row of the forest plot: a subgroup header or one level's forest record."""

    label: str
    header: bool
    record: dict[str, Any] | None = None
    note: str = ""


def forest_rows(sub: SubgroupResult) -> list[ForestRow]:
    """Display rows of the forest plot (header rows and level rows), from the result object."""
    rows: list[ForestRow] = []
    inter = sub.interactions.set_index("subgroup") if len(sub.interactions) else None
    for name, grp in sub.forest.groupby("subgroup", sort=False):
        key = str(name)
        records = [{str(k): v for k, v in r.items()} for r in grp.to_dict("records")]
        if key == "overall":
            rows.append(ForestRow("All patients", False, records[0]))
            continue
        p = (
            format_p_equals(float(str(inter.loc[key, "p_value"])))
            if inter is not None and key in inter.index
            else f"p = {format_number(None)}"
        )
        rows.append(ForestRow(SUBGROUP_LABELS.get(key, key), True, None, f"interaction {p}"))
        for rec in records:
            level = str(rec["level"])
            label = LEVEL_LABELS.get(key, {}).get(level, level)
            if key == "AGEGR":
                nice = level.replace(">=", "\u2265 ").replace("<", "< ")
                label = f"Age {nice} years"
            rows.append(ForestRow(label, False, rec))
    return rows


def figure_forest(
    sub: SubgroupResult,
    proto: Protocol,
    endpoint_label: str,
    *,
    png: bool = False,
    synthetic: bool = False,
) -> RenderedFigure:
    """Forest plot of the primary endpoint's risk difference by subgroup level."""
    rows = forest_rows(sub)
    with _style():
        fig = _figure(6.5, 0.2 * len(rows) + 0.9)
        ax = fig.subplots()
        _margins(fig, left=1.95, right=1.2, bottom=0.5, top=0.3)
        y = np.arange(len(rows))[::-1]
        for yi, row in zip(y, rows, strict=True):
            rec = row.record
            if rec is None:
                ax.text(
                    1.01, yi, row.note, transform=ax.get_yaxis_transform(), va="center", fontsize=7
                )
                continue
            counts = f"{int(rec['x1'])}/{int(rec['n1'])} vs {int(rec['x2'])}/{int(rec['n2'])}"
            ax.text(1.01, yi, counts, transform=ax.get_yaxis_transform(), va="center", fontsize=7)
            est = float(rec["estimate"])
            if math.isnan(est):
                ax.text(
                    0, yi, "not estimable", va="center", ha="center", fontsize=6.5, color="#666"
                )
                continue
            lo, hi = 100 * float(rec["lower"]), 100 * float(rec["upper"])
            ax.plot([lo, hi], [yi, yi], color="#333333", lw=1.1)
            ax.plot([100 * est], [yi], "s", color=ARM_COLOURS[0], ms=4)
        ax.axvline(0, color="#777777", lw=0.8)
        ax.set_yticks(y, [r.label for r in rows])
        for tick, row in zip(ax.get_yticklabels(), rows, strict=True):
            if row.header:
                tick.set_fontweight("bold")
        ax.set_xlim(-100, 100)
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_xlabel(
            f"Risk difference, percentage points ({sub.conf_level:.0%} CI): "
            f"\u2190 favours {short_arm(proto.control.code)} | "
            f"favours {short_arm(proto.treatment.code)} \u2192"
        )
        fig.suptitle(endpoint_label, x=0.02, ha="left", fontsize=8, fontweight="bold")
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        return _finish(fig, "fig-forest", "Forest plot of subgroups", png, synthetic)


def figure_tipping_point(
    sens: SensitivityResult, proto: Protocol, *, png: bool = False, synthetic: bool = False
) -> RenderedFigure:
    """The tipping-point grid: every number of missing outcomes imputed as responders per arm
    (x: control, y: treatment, labelled by the imputed response rate), coloured by whether the
    cell's test is significant; the reference cell (all missing = non-responders) and the
    tipping frontier (first cell per row whose conclusion differs) are marked. Numbers from
    the result object (:class:`myotrial.stats.TippingPointResult`)."""
    tp = sens.tipping
    if tp is None:
        raise ValueError(f"{sens.name} is not a tipping-point analysis")
    mat = tipping_point_grid(tp, "p_value")
    sig = tipping_point_grid(tp, "significant").astype(bool).to_numpy()
    k1 = mat.index.to_numpy(dtype=int)
    k2 = mat.columns.to_numpy(dtype=int)
    m1, m2 = int(tp.counts["missing1"]), int(tp.counts["missing2"])
    with _style():
        fig = _figure(5.2, 3.4)
        ax = fig.subplots()
        _margins(fig, left=0.9, right=1.6, bottom=0.7, top=0.55)
        colours = np.where(sig, 0.0, 1.0)
        ax.pcolormesh(
            np.append(k2, k2[-1] + 1) - 0.5,
            np.append(k1, k1[-1] + 1) - 0.5,
            colours,
            cmap=matplotlib.colors.ListedColormap(["#9ecae1", "#fdd0a2"]),
            vmin=0,
            vmax=1,
            edgecolors="white",
            linewidth=0.3 if len(k1) * len(k2) < 400 else 0,
        )
        ax.plot(
            [0],
            [0],
            marker="o",
            ms=5,
            color="#333333",
            ls="none",
            label="all missing = non-responders",
        )
        front = tp.frontier.dropna()
        if len(front):
            ax.step(
                front["k2_tip"].to_numpy(dtype=float) - 0.5,
                front["k1"].to_numpy(dtype=float),
                where="mid",
                color="#b00020",
                lw=1.4,
                label="tipping frontier",
            )
        ax.set_xlabel(f"{short_arm(proto.control.code)}: missing imputed as responders (of {m2})")
        ax.set_ylabel(
            f"{short_arm(proto.treatment.code)}: missing imputed\nas responders (of {m1})"
        )
        ax.set_xlim(-0.5, k2[-1] + 0.5)
        ax.set_ylim(-0.5, k1[-1] + 0.5)
        if m2:
            def to_rate(k: Any) -> Any:
                return np.asarray(k, dtype=float) * (100.0 / m2)

            def to_count(r: Any) -> Any:
                return np.asarray(r, dtype=float) * (m2 / 100.0)

            sec = ax.secondary_xaxis("top", functions=(to_rate, to_count))
            sec.set_xlabel("imputed response rate (%)", fontsize=7)
        handles = [
            matplotlib.patches.Patch(color="#9ecae1", label=f"p < {tp.alpha:g}"),
            matplotlib.patches.Patch(color="#fdd0a2", label=f"p \u2265 {tp.alpha:g}"),
            *ax.get_legend_handles_labels()[0],
        ]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7)
        ax.set_title(sens.tipping_summary(), fontsize=7, wrap=True)
        return _finish(fig, "fig-tipping", "Tipping-point analysis", png, synthetic)
