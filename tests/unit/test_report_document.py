"""The report as a reader sees it: charts whose count axes read right at any scale, a
sentence where a chart would be empty, legends only for series that exist, a text
alternative for every chart; and the PDF, opened and looked at page by page."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from xml.etree import ElementTree

import pypdfium2 as pdfium
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.synthetic import referrals_report
from services.referral_intake.adapters.report_document import count_ticks, render
from services.referral_intake.adapters.report_pdf import pdf
from services.referral_intake.domain import disclosure
from services.referral_intake.handlers.reports import published_edition

SVG = "{http://www.w3.org/2000/svg}"
NOW = datetime(2027, 1, 10, 9, tzinfo=UTC)


@given(st.floats(min_value=0, max_value=1e7, allow_nan=False))
def test_count_ticks_are_whole_distinct_and_cover_the_largest_value(top: float) -> None:
    ticks = count_ticks(top)
    assert ticks[0] == 0
    assert ticks[-1] >= top
    assert all(isinstance(t, int) for t in ticks)
    assert ticks == sorted(set(ticks))
    assert 2 <= len(ticks) <= 9


def _svgs(page: str) -> list[ElementTree.Element]:
    # The hub's own SVG, made by the test: not untrusted input.
    found = re.finditer(r"<svg\b.*?</svg>", page, re.S)
    return [ElementTree.fromstring(m.group(0)) for m in found]  # noqa: S314


def _title(svg: ElementTree.Element) -> str:
    node = svg.find(f".//{SVG}g[@class='titles']/{SVG}text")
    return "" if node is None else "".join(node.itertext())


def _axis_labels(svg: ElementTree.Element, axis: str) -> list[str]:
    labels = []
    for group in svg.iter(f"{SVG}g"):
        if group.get("class", "").startswith(f"axis {axis}"):
            labels += ["".join(t.itertext()) for t in group.iter(f"{SVG}text")]
    return labels


def _legend(svg: ElementTree.Element) -> list[str]:
    return [
        "".join(t.itertext())
        for g in svg.iter(f"{SVG}g")
        if "legend" in g.get("class", "").split()
        for t in g.iter(f"{SVG}text")
    ]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.in_svg = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_svg += tag == "svg"

    def handle_endtag(self, tag: str) -> None:
        self.in_svg -= tag == "svg"

    def handle_data(self, data: str) -> None:
        if not self.in_svg:
            self.text.append(data)


def _words(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join(" ".join(parser.text).split())


@pytest.mark.parametrize("referrals", [3, 12, 40, 5000])
def test_every_chart_reads_right_at_any_scale(referrals: int) -> None:
    page = render(referrals_report(31, referrals, skew=2.0), generated_at=NOW)
    svgs = _svgs(page)
    assert svgs
    for svg in svgs:
        title = _title(svg)
        assert svg.get("role") == "img", title
        alternative = svg.get("aria-label") or ""
        assert alternative.startswith(title), title
        assert re.search(r"\d", alternative), f"{title}: the text alternative gives the figures"
        for axis in ("x", "y"):
            labels = _axis_labels(svg, axis)
            assert len(labels) == len(set(labels)), f"{title}: {axis} ticks repeat: {labels}"
        legend = _legend(svg)
        assert len(legend) == len(set(legend))
        if "%" not in alternative and "hours" not in title:
            numbers = [
                label
                for axis in ("x", "y")
                for label in _axis_labels(svg, axis)
                if re.fullmatch(r"[\d,.]+", label)
            ]
            assert numbers, f"{title}: a count axis"
            assert all(re.fullmatch(r"\d[\d,]*", n) for n in numbers), f"{title}: {numbers}"
    assert "No data" not in page


def test_the_few_referrals_of_issue_22_read_right() -> None:
    """The chart the issue saw as 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3: three referrals."""
    report = referrals_report(32, 3, skew=3.0)
    funnel = next(
        s for s in _svgs(render(report, generated_at=NOW)) if _title(s).startswith("What")
    )
    ticks = [label for axis in ("x", "y") for label in _axis_labels(funnel, axis)]
    numbers = [t for t in ticks if t.isdigit()]
    assert numbers == [str(n) for n in range(len(numbers))]
    assert int(numbers[-1]) >= max(f["referrals"] for f in report["services"].values())


def test_an_empty_chart_is_a_sentence_and_absent_series_have_no_legend() -> None:
    report = referrals_report(33, 30)
    for figures in [report["totals"], *report["services"].values()]:
        figures["rejected"] = 0
        figures["rejected_by_reason"] = dict.fromkeys(figures["rejected_by_reason"], 0)
        figures["referrals_previous_period"] = 0
    page = render(report, generated_at=NOW)
    assert "No referrals were rejected in this period." in _words(page)
    assert not any(_title(s).startswith("Rejected") for s in _svgs(page))
    volumes = next(s for s in _svgs(page) if _title(s).startswith("Referrals received"))
    assert "Previous period" not in _legend(volumes)
    assert "This period" in _legend(volumes)


def test_a_chart_whose_figures_are_all_suppressed_says_so() -> None:
    """Not "no referrals": there were some, and the published edition hides how many."""
    published = published_edition(referrals_report(35, 6, skew=2.0), 10)
    words = _words(render(published, generated_at=NOW))
    assert "Every figure this chart would show is suppressed in the published edition" in words
    assert "No referrals were made to a service in this period." not in words


def _pages_text(document: bytes) -> list[str]:
    pdf_file = pdfium.PdfDocument(document)
    return [pdf_file[i].get_textpage().get_text_range() for i in range(len(pdf_file))]


@pytest.fixture(scope="module")
def editions() -> dict[str, dict[str, Any]]:
    report = referrals_report(34, 300, skew=1.3)
    return {
        "internal": disclosure.internal(report),
        "published": published_edition(report, 10),
    }


@pytest.mark.parametrize(
    ("edition", "label"),
    [("internal", "Internal edition: not for publication"), ("published", "Published edition")],
)
def test_the_pdf_opens_has_its_charts_and_the_edition_on_every_page(
    editions: dict[str, dict[str, Any]], edition: str, label: str
) -> None:
    report = editions[edition]
    document = pdf(report, generated_at=NOW)
    assert document.startswith(b"%PDF-")
    pages = _pages_text(document)
    assert len(pages) > 3
    for number, text in enumerate(pages, start=1):
        squashed = " ".join(text.split())
        assert label in squashed, f"page {number} does not say which edition it is"
        assert f"Page {number} of {len(pages)}" in squashed
    html_page = render(report, generated_at=NOW)
    titles = [_title(s) for s in _svgs(html_page)]
    assert len(titles) >= (10 if edition == "internal" else 4)
    everything = [" ".join(p.split()) for p in pages]
    for title in titles:
        # Each chart is drawn (its title is text in the PDF) and on one page only.
        on = [n for n, text in enumerate(everything) if title in text]
        assert len(on) == 1, f"chart {title!r} is on pages {on}"
    if edition == "published":
        assert any("[c]" in text for text in everything)


def test_no_chart_or_table_is_cut_across_pages(editions: dict[str, dict[str, Any]]) -> None:
    """Each table's caption and its last row's label are on the same page, as are each
    chart's title and its legend or last axis label."""
    report = editions["internal"]
    pages = [" ".join(p.split()) for p in _pages_text(pdf(report, generated_at=NOW))]
    for caption, last_row in (
        ("Referrals and the change on the previous period", "All services"),
        ("The contact standard", "All services"),
        ("Share recorded, by who referred", "All sources"),
        ("Ethnic group", "Not asked"),
        ("Religion", "Not asked"),
    ):
        found = [n for n, text in enumerate(pages) if caption in text]
        assert found, caption
        page = pages[found[0]]
        after = page[page.index(caption) :]
        assert last_row in after, f"the table {caption!r} goes on to another page"


def test_pdf_pages_look_like_a_report(editions: dict[str, dict[str, Any]]) -> None:
    """Rendered to pictures, as a reader would see them: pages are not blank, and the pages
    with charts carry the charts' colours."""
    document = pdfium.PdfDocument(pdf(editions["published"], generated_at=NOW))
    coloured = 0
    for index in range(len(document)):
        image = document[index].render(scale=0.6).to_pil().convert("RGB")
        colours = image.getcolors(maxcolors=1 << 20) or []
        assert len(colours) > 2, f"page {index + 1} is blank"
        blue = sum(
            n
            for n, (r, g, b) in colours
            if abs(r - 0x00) < 30 and abs(g - 0x72) < 30 and abs(b - 0xB2) < 30
        )
        coloured += blue > 500
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        assert buffer.getvalue().startswith(b"\x89PNG")
    assert coloured >= 5, "the charts' first colour (Okabe-Ito blue) is on the chart pages"
