"""myotrial: run and analyse dermatomyositis trials of the ProDERM design.

Data flow: raw visits -> :func:`myotrial.tables.validate_visits` -> :mod:`myotrial.scoring`
(TIS, categories, IMACS DOI, worsening, confirmed deterioration) -> derived endpoints ->
:mod:`myotrial.stats` -> reports. Rules live as data in ``myotrial/rules/*.toml``.
"""

from myotrial.scoring import score_visits
from myotrial.tables import read_table, validate_visits, write_table

__all__ = ["__version__", "read_table", "score_visits", "validate_visits", "write_table"]

__version__ = "0.1.0"
