"""``python -m reports.pictures``: the README's pictures of the report, one page of each
edition, made from made-up referrals (``reports.synthetic``) the way the hub makes the PDF,
then drawn as PNG (pypdfium2, a development dependency)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pypdfium2 as pdfium

from reports.synthetic import referrals_report
from services.referral_intake.adapters.report_pdf import pdf
from services.referral_intake.domain import disclosure
from services.referral_intake.handlers.reports import published_edition

OUT = Path("docs/images")
HEADING = "Every service, every figure"
"""Besides the first page, the page that starts with this heading is drawn: the table of
every figure, where the two editions differ most."""


def main(argv: list[str]) -> None:
    out = Path(argv[0]) if argv else OUT
    out.mkdir(parents=True, exist_ok=True)
    report = referrals_report(2026, 260, skew=1.2)
    editions = {"internal": disclosure.internal(report), "published": published_edition(report, 10)}
    made = datetime(2027, 1, 10, 9, tzinfo=UTC)
    for name, edition in editions.items():
        document = pdfium.PdfDocument(pdf(edition, generated_at=made))
        texts = [document[i].get_textpage().get_text_range() for i in range(len(document))]
        table = next(i for i, text in enumerate(texts) if HEADING in " ".join(text.split()))
        for label, index in (("first-page", 0), ("every-figure", table)):
            target = out / f"report-{name}-{label}.png"
            document[index].render(scale=1.1).to_pil().save(target, optimize=True)
            print(target)


if __name__ == "__main__":
    main(sys.argv[1:])
