"""The report as a PDF for a panel pack, printed by WeasyPrint from the same HTML as the
web page (``report_document.render(..., for_print=True)``): A4 landscape, no chart or table
cut across a page, the title, the edition and the page number on every page.

WeasyPrint lays text out with Pango, a system library: the Makefile installs it where it is
missing and the image carries it (``deploy/Dockerfile``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.referral_intake.adapters.report_document import render

for _name in ("weasyprint", "fontTools"):
    # WeasyPrint warns about every CSS property it ignores; those are the browser's.
    logging.getLogger(_name).setLevel(logging.ERROR)


def pdf(report: Mapping[str, Any], *, generated_at: datetime) -> bytes:
    """The PDF of ``report`` (either edition). Nothing is fetched: the document is
    self-contained (inline SVG, system fonts)."""
    import weasyprint  # heavy: loaded on the first PDF

    document = render(report, generated_at=generated_at, for_print=True)
    rendered: bytes = weasyprint.HTML(
        string=document, base_url=None, url_fetcher=_refuse
    ).write_pdf()
    return rendered


def _refuse(url: str, timeout: int = 10, ssl_context: Any = None) -> dict[str, Any]:
    """The report fetches nothing; a URL in it is a mistake, never a request."""
    raise ValueError(f"the report does not fetch {url[:80]}")
