"""myotrial: run and analyse dermatomyositis trials of the ProDERM design.

Data flow: raw visits -> :func:`myotrial.tables.validate_visits` -> :mod:`myotrial.scoring`
(TIS, categories, IMACS DOI, worsening, confirmed deterioration) -> derived endpoints ->
:mod:`myotrial.stats` -> reports. Rules live as data in ``myotrial/rules/*.toml``.

The public names below are imported on first use (PEP 562), so ``import myotrial`` and the
command-line start-up do not pay for pandas and the compiled scoring engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from myotrial._lazy import lazy_attributes

if TYPE_CHECKING:
    from myotrial.scoring import score_visits
    from myotrial.tables import read_table, validate_visits, write_table

__all__ = ["__version__", "read_table", "score_visits", "validate_visits", "write_table"]

__version__ = "0.1.0"

_LAZY = {
    "score_visits": "myotrial.scoring",
    "read_table": "myotrial.tables",
    "validate_visits": "myotrial.tables",
    "write_table": "myotrial.tables",
}


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY, __all__)
