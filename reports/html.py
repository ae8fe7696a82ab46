"""The report's HTML document is made by intake (``GET /v1/reports/performance`` with
``Accept: text/html`` or ``application/pdf``); this name is kept for the tests and tools
that render a report's JSON themselves."""

from services.referral_intake.adapters.report_document import render

__all__ = ["render"]
