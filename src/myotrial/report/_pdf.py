"""The report's PDF (WeasyPrint), importable without the report's figure and table stack.

:func:`html_to_pdf` is re-exported by :mod:`myotrial.report.render`; the demo's helper process
(:mod:`myotrial.report._worker`) imports only this module to render the PDF beside the caller.
"""

from __future__ import annotations

__all__ = ["html_to_pdf", "warm_up"]


def _weasyprint_html() -> type:
    try:
        from weasyprint import HTML  # type: ignore[import-untyped]
    except OSError as exc:  # the pango system libraries are missing
        raise ImportError(
            "WeasyPrint cannot load its system libraries (Debian: libpango-1.0-0 "
            f"libpangoft2-1.0-0): {exc}"
        ) from exc
    return HTML  # type: ignore[no-any-return]


def html_to_pdf(html: str) -> bytes:
    """The report's PDF (WeasyPrint; needs the pango system library).

    Raises
    ------
    ImportError
        WeasyPrint or its system libraries are not installed.
    """
    pdf = _weasyprint_html()(string=html).write_pdf()
    if pdf is None:  # pragma: no cover - write_pdf returns bytes without a target
        raise RuntimeError("WeasyPrint returned no PDF")
    return bytes(pdf)


def warm_up() -> None:
    """Import WeasyPrint and lay out one line in the report's fonts (font configuration and
    font files are loaded once per process), so that the report's PDF starts at once.
    Nothing is written; a missing WeasyPrint is reported later, by :func:`html_to_pdf`."""
    try:
        html = _weasyprint_html()
    except ImportError:
        return
    from myotrial.report._template import CSS

    html(string=f"<style>{CSS}</style><h1>x</h1><p>x <b>x</b></p>").render()
