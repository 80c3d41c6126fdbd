"""The protocol policy: the one place that answers the protocol's questions for every consumer.

Built from a :class:`~myotrial.protocol.Protocol` (``ProtocolPolicy(load_protocol(...))`` or
``protocol.policy``), it answers who may switch and when, where each period starts and ends
(randomised, after crossover, extension; for one patient or vectorised for a table), the visit
schedule with its windows, infusion cycles, dose and rate limits, the infusion-related window,
the population's TIS thresholds and measure set, the scoring options, and the randomisation
scheme. The live trial (``myotrial.db``), the web pages and plots, derivation, analysis, the
report and the simulator all read these answers here; none writes the values again.

Sources: every value comes from the protocol file (``myotrial/protocols/proderm.toml`` cites
them) or from the rules files it references (TIS thresholds: ``rules/tis_2016.toml``;
confirmation of deterioration: ``rules/proderm_deterioration.toml``).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from myotrial.protocol import (
        BinaryEndpoint,
        ContinuousEndpoint,
        Dosing,
        Protocol,
        TimeToEventEndpoint,
    )
    from myotrial.randomisation import RandomisationScheme, StratumFactor
    from myotrial.rules import CategoryThresholds

__all__ = ["PERIOD_CODES", "Period", "ProtocolPolicy"]

PeriodCode = Literal["randomised", "after_switch", "extension"]
#: Period codes, in time order (ADSL APxx: 01 randomised, 02 after switch, 03 extension).
PERIOD_CODES: tuple[PeriodCode, ...] = ("randomised", "after_switch", "extension")


@dataclass(frozen=True)
class Period:
    """One treatment period of one patient: ``[start_week, end_week)`` on ``treatment``."""

    code: PeriodCode
    label: str
    start_week: float
    end_week: float
    treatment: str


class ProtocolPolicy:
    """Answers of one protocol (see the module docstring). Cheap to build; immutable."""

    def __init__(self, protocol: Protocol) -> None:
        self.protocol = protocol

    # -- arms and crossover -------------------------------------------------------------------

    @property
    def treatment_arm(self) -> str:
        return self.protocol.treatment.code

    @property
    def control_arm(self) -> str:
        return self.protocol.control.code

    @property
    def arm_codes(self) -> tuple[str, ...]:
        return self.protocol.arm_codes

    @property
    def extension_arm(self) -> str:
        return self.protocol.extension_arm

    def check_arm(self, arm: str) -> str:
        if arm not in self.arm_codes:
            raise ValueError(
                f"arm {arm!r} is not an arm of protocol {self.protocol.name}; "
                f"valid: {', '.join(self.arm_codes)}"
            )
        return arm

    def on_deterioration(self, arm: str) -> str:
        """What the protocol does with a patient of ``arm`` whose deterioration is confirmed in
        the randomised period: ``switch`` (to the extension arm), ``no_extension``,
        ``discontinue`` or ``continue``."""
        if self.check_arm(arm) == self.control_arm:
            return self.protocol.control_on_deterioration
        return self.protocol.treatment_on_deterioration

    def switches_on_deterioration(self, arm: str) -> bool:
        """True when confirmed deterioration moves a patient of ``arm`` to another treatment
        (ProDERM: placebo -> IVIG; never the IVIG arm)."""
        return self.on_deterioration(arm) == "switch" and arm != self.extension_arm

    def switch_target(self, arm: str) -> str | None:
        return self.extension_arm if self.switches_on_deterioration(arm) else None

    @property
    def switching_arms(self) -> tuple[str, ...]:
        return tuple(a for a in self.arm_codes if self.switches_on_deterioration(a))

    @property
    def after_switch_deterioration(self) -> str:
        return self.protocol.after_switch_deterioration

    def may_switch_at(self, week: float) -> bool:
        """A switch is dated at the confirming visit, which must be at or after the earliest
        week and inside the randomised period."""
        return self.earliest_week <= week <= self.randomised_end_week

    # -- periods ------------------------------------------------------------------------------

    @property
    def randomised_end_week(self) -> int:
        return self.protocol.randomised_end_week

    @property
    def extension_end_week(self) -> int:
        return self.protocol.extension_end_week

    def periods(
        self, arm: str, *, switch_week: float | None = None, entered_extension: bool = True
    ) -> tuple[Period, ...]:
        """The treatment periods of one patient randomised to ``arm``.

        Randomised period from week 0 to the switch (if any) or the end of the randomised
        period; after a switch, the switch target until the end of the randomised period;
        the extension (extension arm) when entered.
        """
        self.check_arm(arm)
        end = float(self.randomised_end_week)
        out: list[Period] = []
        target = self.switch_target(arm)
        switched = switch_week is not None and not _isnan(switch_week) and target is not None
        if switched:
            assert switch_week is not None and target is not None
            out.append(Period("randomised", "Randomised period", 0.0, float(switch_week), arm))
            out.append(Period("after_switch", "After crossover", float(switch_week), end, target))
        else:
            out.append(Period("randomised", "Randomised period", 0.0, end, arm))
        if entered_extension:
            out.append(
                Period(
                    "extension",
                    "Open-label extension",
                    end,
                    float(self.extension_end_week),
                    self.extension_arm,
                )
            )
        return tuple(out)

    def period_at_weeks(
        self, weeks: npt.ArrayLike, switch_week: npt.ArrayLike
    ) -> npt.NDArray[np.object_]:
        """Vectorised period code at each week (``switch_week`` NaN = no switch). Week 0 and
        the randomised period up to and including its end week belong to the randomised
        period (the week-16 assessment is the randomised period's last); from the switch week
        (the confirming visit) on, ``after_switch``; after the randomised end, ``extension``."""
        w = np.asarray(weeks, dtype=float)
        sw = np.broadcast_to(np.asarray(switch_week, dtype=float), w.shape)
        out = np.full(w.shape, "randomised", dtype=object)
        switched = ~np.isnan(sw) & (w >= sw) & (w <= self.randomised_end_week)
        out[switched] = "after_switch"
        out[w > self.randomised_end_week] = "extension"
        return out

    def treatment_at_weeks(
        self, arms: npt.ArrayLike, weeks: npt.ArrayLike, switch_week: npt.ArrayLike
    ) -> npt.NDArray[np.object_]:
        """Vectorised treatment actually received at each assessment week."""
        a = np.asarray(arms, dtype=object)
        period = self.period_at_weeks(weeks, switch_week)
        out = a.copy()
        moved = period != "randomised"
        out[moved] = self.extension_arm
        return out

    # -- schedule -----------------------------------------------------------------------------

    @property
    def assessment_weeks(self) -> tuple[int, ...]:
        return self.protocol.assessment_weeks

    @property
    def primary_week(self) -> int:
        return self.protocol.primary_week

    @property
    def final_week(self) -> int:
        return self.protocol.final_week

    @property
    def max_week(self) -> int:
        return self.protocol.extension_end_week

    def is_scheduled_week(self, week: Any) -> bool:
        """True for a week of the protocol's assessment schedule (0 = baseline)."""
        if isinstance(week, bool):
            return False
        try:
            number = float(week)
        except (TypeError, ValueError):
            return False
        return (
            math.isfinite(number)
            and number.is_integer()
            and int(number) in set(self.assessment_weeks)
        )

    @property
    def visit_window_days(self) -> int:
        return self.protocol.visit_window_days

    def target_date(self, randomised_on: dt.date, week: int) -> dt.date:
        return randomised_on + dt.timedelta(weeks=int(week))

    def visit_window(self, randomised_on: dt.date, week: int) -> tuple[dt.date, dt.date]:
        """Earliest and latest date of the visit at ``week`` (target +/- the window)."""
        target = self.target_date(randomised_on, week)
        half = dt.timedelta(days=self.visit_window_days)
        return target - half, target + half

    # -- infusions and safety -----------------------------------------------------------------

    @property
    def dosing(self) -> Dosing:
        return self.protocol.dosing

    @property
    def max_cycle(self) -> int:
        return self.dosing.total_cycles

    def cycle_week(self, cycle: int) -> int:
        """Target week of infusion cycle ``cycle`` (1-based; cycle 1 at week 0)."""
        return (int(cycle) - 1) * self.dosing.interval_weeks

    def max_cycle_dose(self, week: float) -> float:
        """The largest total dose (g/kg) a cycle starting at ``week`` may give: the protocol
        dose (the reduced dose is below it, so allowed too)."""
        return self.dosing.dose_g_per_kg

    @property
    def max_rate_ml_per_kg_min(self) -> float:
        return self.dosing.max_rate_ml_per_kg_min

    @property
    def infusion_related_window_hours(self) -> float:
        return self.protocol.infusion_related_window_hours

    @property
    def infusion_related_window(self) -> dt.timedelta:
        return dt.timedelta(hours=self.infusion_related_window_hours)

    # -- population and scoring ---------------------------------------------------------------

    @property
    def population(self) -> str:
        return self.protocol.population

    @property
    def measure_set(self) -> str:
        return self.protocol.measure_set

    @cached_property
    def thresholds(self) -> CategoryThresholds:
        """TIS category thresholds of the protocol's population (rules/tis_2016.toml)."""
        from myotrial.rules import load_tis_rules

        return load_tis_rules().categories[self.population]

    @property
    def threshold_values(self) -> tuple[float, float, float]:
        t = self.thresholds
        return (t.minimal, t.moderate, t.major)

    @property
    def earliest_week(self) -> float:
        return self.protocol.earliest_week

    @property
    def consecutive_visits(self) -> int:
        return self.protocol.consecutive_visits

    def scoring_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`myotrial.scoring.score_visits` under this protocol."""
        return {
            "population": self.population,
            "measure_set": self.measure_set,
            "mmt8_max": self.protocol.mmt8_max,
            "earliest_week": self.earliest_week,
            "consecutive_visits": self.consecutive_visits,
        }

    def visits_table_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`myotrial.scoring.score_visits` on a visits TABLE under
        this protocol: the scoring options plus the last week a visit may have
        (``max_week``: the end of the extension)."""
        return {**self.scoring_options(), "max_week": self.max_week}

    # -- randomisation ------------------------------------------------------------------------

    def randomisation_scheme(
        self, factors: tuple[StratumFactor, ...] = (), n_per_stratum: int = 50
    ) -> RandomisationScheme:
        """The protocol's scheme (arms, ratio, block sizes); ``factors`` give the levels of
        the protocol's strata (names must match ``[randomisation] strata``)."""
        from myotrial.randomisation import RandomisationScheme

        names = tuple(f.name for f in factors)
        if set(names) != set(self.protocol.strata):
            raise ValueError(
                f"protocol {self.protocol.name} stratifies by "
                f"{list(self.protocol.strata) or 'nothing'}; levels were given for {list(names)}"
            )
        arms = self.arm_codes
        return RandomisationScheme(
            arms=arms,
            ratio=tuple(self.protocol.ratio[a] for a in arms),
            block_sizes=self.protocol.block_sizes,
            factors=tuple(factors),
            n_per_stratum=n_per_stratum,
        )

    # -- simulator (appended for myotrial.simulate) -------------------------------------------

    @cached_property
    def measure_columns(self) -> dict[str, str]:
        """Visits-table column of each TIS slot under the protocol's population and measure set
        (``rules/tis_2016.toml``; e.g. the ``haq`` slot is ``chaq`` for a juvenile protocol)."""
        from myotrial.rules import load_tis_rules

        ms = load_tis_rules().measure_set_for(self.population, self.measure_set)
        return dict(ms.slots)

    @property
    def infusion_cycle_weeks(self) -> tuple[int, ...]:
        """Target week of every infusion cycle, 1 .. :attr:`max_cycle`."""
        return tuple(self.cycle_week(c) for c in range(1, self.max_cycle + 1))

    def cycles_in_randomised_period(self) -> npt.NDArray[np.bool_]:
        """Per cycle (as :attr:`infusion_cycle_weeks`): True for the randomised period's
        ``cycles_randomised`` cycles, False for the extension's."""
        return np.arange(self.max_cycle) < self.dosing.cycles_randomised

    # -- TIS categories and endpoints under the population (appended for derivation, analysis
    #    and the report) ---------------------------------------------------------------------

    @property
    def categories(self) -> tuple[tuple[str, float], ...]:
        """``(name, threshold)`` of the population's TIS categories, lowest first
        (rules/tis_2016.toml: adult 20/40/60, juvenile 30/45/70)."""
        t = self.thresholds
        return (("minimal", t.minimal), ("moderate", t.moderate), ("major", t.major))

    def binary_endpoints(self) -> tuple[BinaryEndpoint, ...]:
        """The protocol's binary endpoints. Their thresholds are already those of the
        population: an endpoint names a category (``category = "minimal"``), resolved on load
        from rules/tis_2016.toml (adult 20/40/60, juvenile 30/45/70), or gives a literal
        threshold."""
        return self.protocol.binary

    def time_to_event_endpoints(self) -> tuple[TimeToEventEndpoint, ...]:
        """The protocol's time-to-event endpoints (thresholds as in :meth:`binary_endpoints`)."""
        return self.protocol.time_to_event

    def endpoint(self, name: str) -> BinaryEndpoint | ContinuousEndpoint | TimeToEventEndpoint:
        """One endpoint by name."""
        return self.protocol.endpoint(name)


def _isnan(value: float) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False
