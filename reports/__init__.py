"""The commissioner's performance report as a document: ``make report PERIOD=2026-27Q3``
fetches ``GET /v1/reports/performance`` from the running hub and writes one self-contained
HTML file with its charts inline (SVG), readable offline."""
