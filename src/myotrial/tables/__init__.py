"""Canonical tables: reading, writing and boundary validation (``docs/data-format.md``).

One table-contract layer for every canonical input table:

- validators: :func:`validate_visits`, :func:`validate_subjects`, :func:`validate_screening`,
  :func:`validate_infusions`, :func:`validate_adverse_events` — each returns a typed copy or
  raises one :class:`~myotrial.errors.InputValidationError` listing every problem (table, row,
  subject, visit, column, value, rule);
- one set of value parsers (:mod:`myotrial.tables.values`): scalar ``parse_*`` (raise
  :class:`ValueParseError`, return ``None`` when missing) and vectorised ``*_column``;
- one problem collector (:class:`ProblemCollector`) and column contracts (:class:`Column`);
- shared vocabularies (``vocabularies.toml``): :data:`MSA_GROUPS`, :data:`SEX_CODES`,
  :data:`SEVERITIES`, :data:`PRODUCTS`.

Names are imported on first use (PEP 562): importing a submodule such as
:mod:`myotrial.tables.ranges` does not load pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from myotrial._lazy import lazy_attributes

if TYPE_CHECKING:
    from myotrial.tables.contract import (
        Column,
        check_columns,
        check_required_columns,
    )
    from myotrial.tables.io import (
        read_table,
        write_table,
    )
    from myotrial.tables.problems import (
        ProblemCollector,
        prepare_table,
    )
    from myotrial.tables.safety import (
        ADVERSE_EVENT_COLUMNS,
        INFUSION_COLUMNS,
        validate_adverse_events,
        validate_infusions,
    )
    from myotrial.tables.screening import (
        validate_screening,
    )
    from myotrial.tables.subjects import (
        SUBJECT_COLUMNS,
        validate_subjects,
    )
    from myotrial.tables.values import (
        FALSE_WORDS,
        MISSING_TOKENS,
        TRUE_WORDS,
        ParsedColumn,
        ValueParseError,
        boolean_column,
        code_column,
        date_column,
        datetime_column,
        integer_column,
        is_missing,
        number_column,
        parse_bool,
        parse_code,
        parse_date,
        parse_datetime,
        parse_decimal,
        parse_int,
        parse_number,
        parse_text,
        text_column,
    )
    from myotrial.tables.visits import (
        validate_visits,
    )
    from myotrial.tables.vocabularies import (
        MSA_GROUPS,
        PRODUCTS,
        SEVERE_OR_WORSE,
        SEVERITIES,
        SEX_CODES,
        VOCABULARIES,
    )

__all__ = [
    "ADVERSE_EVENT_COLUMNS",
    "FALSE_WORDS",
    "INFUSION_COLUMNS",
    "MISSING_TOKENS",
    "MSA_GROUPS",
    "PRODUCTS",
    "SEVERE_OR_WORSE",
    "SEVERITIES",
    "SEX_CODES",
    "SUBJECT_COLUMNS",
    "TRUE_WORDS",
    "VOCABULARIES",
    "Column",
    "ParsedColumn",
    "ProblemCollector",
    "ValueParseError",
    "boolean_column",
    "check_columns",
    "check_required_columns",
    "code_column",
    "date_column",
    "datetime_column",
    "integer_column",
    "is_missing",
    "number_column",
    "parse_bool",
    "parse_code",
    "parse_date",
    "parse_datetime",
    "parse_decimal",
    "parse_int",
    "parse_number",
    "parse_text",
    "prepare_table",
    "read_table",
    "text_column",
    "validate_adverse_events",
    "validate_infusions",
    "validate_screening",
    "validate_subjects",
    "validate_visits",
    "write_table",
]

#: Public name -> the module defining it, imported on first use (PEP 562).
_LAZY: dict[str, str] = {
    "Column": "myotrial.tables.contract",
    "check_columns": "myotrial.tables.contract",
    "check_required_columns": "myotrial.tables.contract",
    "read_table": "myotrial.tables.io",
    "write_table": "myotrial.tables.io",
    "ProblemCollector": "myotrial.tables.problems",
    "prepare_table": "myotrial.tables.problems",
    "ADVERSE_EVENT_COLUMNS": "myotrial.tables.safety",
    "INFUSION_COLUMNS": "myotrial.tables.safety",
    "validate_adverse_events": "myotrial.tables.safety",
    "validate_infusions": "myotrial.tables.safety",
    "validate_screening": "myotrial.tables.screening",
    "SUBJECT_COLUMNS": "myotrial.tables.subjects",
    "validate_subjects": "myotrial.tables.subjects",
    "FALSE_WORDS": "myotrial.tables.values",
    "MISSING_TOKENS": "myotrial.tables.values",
    "TRUE_WORDS": "myotrial.tables.values",
    "ParsedColumn": "myotrial.tables.values",
    "ValueParseError": "myotrial.tables.values",
    "boolean_column": "myotrial.tables.values",
    "code_column": "myotrial.tables.values",
    "date_column": "myotrial.tables.values",
    "datetime_column": "myotrial.tables.values",
    "integer_column": "myotrial.tables.values",
    "is_missing": "myotrial.tables.values",
    "number_column": "myotrial.tables.values",
    "parse_bool": "myotrial.tables.values",
    "parse_code": "myotrial.tables.values",
    "parse_date": "myotrial.tables.values",
    "parse_datetime": "myotrial.tables.values",
    "parse_decimal": "myotrial.tables.values",
    "parse_int": "myotrial.tables.values",
    "parse_number": "myotrial.tables.values",
    "parse_text": "myotrial.tables.values",
    "text_column": "myotrial.tables.values",
    "validate_visits": "myotrial.tables.visits",
    "MSA_GROUPS": "myotrial.tables.vocabularies",
    "PRODUCTS": "myotrial.tables.vocabularies",
    "SEVERE_OR_WORSE": "myotrial.tables.vocabularies",
    "SEVERITIES": "myotrial.tables.vocabularies",
    "SEX_CODES": "myotrial.tables.vocabularies",
    "VOCABULARIES": "myotrial.tables.vocabularies",
}


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY, __all__)
