"""PDF files drawn with fpdf2: paragraphs and headings rebuilt, and every way a PDF can be unreadable."""

from __future__ import annotations

import pytest

from appliance.knowledge.extract import ExtractionError, Limits, Section, extract
from tests.appliance.knowledge.files import image_only_pdf, pdf

REFUND = ("We refund purchases within thirty days of the order when the customer returns the goods in their original "
          "packaging together with the receipt.")


@pytest.fixture(scope="module")
def handbook() -> bytes:
    return pdf(
        [
            [("h1", "Refunds"), ("p", REFUND), ("lines", ["Gift cards are an exam-", "ple of items we never refund."]),
             ("h2", "Exceptions"), ("p", "Sale items bought online and")],
            [("p", "collected in a store are exchanged, not refunded."), ("lines", ["- first rule", "- second rule"])],
            [("h1", "Shipping"), ("p", "We ship worldwide.")],
        ],
        title="Customer handbook",
        running_footer="ACME Handbook",
    )


def test_a_multi_page_pdf_keeps_paragraphs_and_finds_headings_by_font_size(handbook):
    document = extract(handbook, filename="handbook.pdf")

    assert document.media_type == "application/pdf"
    assert document.sections == [
        Section(("Refunds",), f"{REFUND}\n\nGift cards are an example of items we never refund."),
        Section(("Refunds", "Exceptions"),
                "Sale items bought online and collected in a store are exchanged, not refunded.\n\n"
                "- first rule\n\n- second rule"),
        Section(("Shipping",), "We ship worldwide."),
    ]


def test_a_pdf_title_comes_from_its_metadata(handbook):
    assert extract(handbook, filename="handbook.pdf").title == "Customer handbook"


def test_a_pdf_without_a_metadata_title_takes_its_first_top_heading():
    data = pdf([[("p", "Preface text."), ("h1", "Price list"), ("p", "Ten euros.")]])

    assert extract(data, filename="prices.pdf").title == "Price list"


def test_a_pdf_without_title_or_headings_is_named_after_the_file():
    assert extract(pdf([[("p", "Only text.")]]), filename="scan-0001.pdf").title == "scan-0001"


def test_running_headers_and_footers_with_page_numbers_are_dropped(handbook):
    text = " ".join(section.text for section in extract(handbook, filename="handbook.pdf").sections)

    assert "ACME Handbook" not in text
    assert "page" not in text


def test_numbered_chapter_headings_atop_every_page_are_not_taken_for_running_headers():
    data = pdf([[("h1", f"Chapter {n}"), ("p", f"Text of chapter {n}.")] for n in range(1, 5)], running_footer="ACME")

    document = extract(data, filename="book.pdf")

    assert [section.heading_path for section in document.sections] == [(f"Chapter {n}",) for n in range(1, 5)]
    assert [section.text for section in document.sections] == [f"Text of chapter {n}." for n in range(1, 5)]


def test_a_word_hyphenated_across_a_line_break_is_mended_but_real_hyphens_stay():
    data = pdf([[("lines", ["A well-known exam-", "ple of a line that runs on"])]])

    assert extract(data, filename="hyphen.pdf").sections[0].text == "A well-known example of a line that runs on"


def test_a_pdf_that_needs_a_password_is_refused():
    data = pdf([[("p", "Salary table.")]], user_password="secret")

    with pytest.raises(ExtractionError, match="protected by a password"):
        extract(data, filename="salaries.pdf")


def test_a_pdf_with_only_an_owner_password_is_read():
    data = pdf([[("p", "Printable but not editable.")]], owner_password="owner")

    assert extract(data, filename="locked.pdf").sections[0].text == "Printable but not editable."


def test_a_truncated_pdf_is_refused_as_damaged(handbook):
    with pytest.raises(ExtractionError, match="damaged or incomplete"):
        extract(handbook[: len(handbook) // 2], filename="handbook.pdf")


def test_a_pdf_with_a_header_and_garbage_after_it_is_refused_as_damaged():
    with pytest.raises(ExtractionError, match="damaged"):
        extract(b"%PDF-1.7\n" + bytes(range(256)) * 20, filename="garbage.pdf")


def test_a_pdf_of_scanned_images_is_refused_for_having_no_text_layer():
    with pytest.raises(ExtractionError, match="no text layer") as raised:
        extract(image_only_pdf(), filename="scan.pdf")

    assert "OCR" in str(raised.value)


def test_a_pdf_with_more_pages_than_the_limit_is_refused(handbook):
    with pytest.raises(ExtractionError, match="3 pages; at most 2"):
        extract(handbook, filename="handbook.pdf", limits=Limits(max_pdf_pages=2))


def test_a_text_file_named_pdf_is_refused_saying_it_looks_like_text():
    with pytest.raises(ExtractionError, match="named like a PDF but its contents look like plain text"):
        extract(b"Just some notes, saved with the wrong name.", filename="notes.pdf")


def test_an_html_error_page_saved_as_pdf_is_refused_saying_it_looks_like_html():
    with pytest.raises(ExtractionError, match="look like an HTML page"):
        extract(b"<!DOCTYPE html><html><body>404 Not Found</body></html>", filename="report.pdf")
