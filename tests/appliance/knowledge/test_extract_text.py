"""Plain text, markdown and pasted text; the rules every upload goes through first (type, size, normalisation)."""

from __future__ import annotations

import codecs

import pytest

from appliance.errors import ValidationError
from appliance.knowledge.extract import SUPPORTED, ExtractionError, Limits, Section, extract, extract_text


def test_a_utf8_text_file_is_split_into_paragraphs_on_blank_lines():
    data = "Opening hours are nine to five.\nClosed on Sundays.\n\n\nCall us on 0800 123.\n".encode()

    document = extract(data, filename="notes/hours.txt")

    assert document.title == "hours"
    assert document.media_type == "text/plain"
    assert document.qa_pairs == []
    assert document.sections == [
        Section(heading_path=(), text="Opening hours are nine to five. Closed on Sundays.\n\nCall us on 0800 123.")
    ]


def test_a_utf8_file_with_a_byte_order_mark_loses_the_mark():
    document = extract(codecs.BOM_UTF8 + "Grüße aus Köln".encode(), filename="greeting.txt")

    assert document.sections[0].text == "Grüße aus Köln"


def test_a_utf16_text_file_with_a_byte_order_mark_is_decoded():
    document = extract("Préface\r\n\r\nΚαλημέρα 你好".encode("utf-16"), filename="windows.txt")

    assert document.sections[0].text == "Préface\n\nΚαλημέρα 你好"


def test_a_windows_1252_text_file_is_decoded_when_it_is_not_utf8():
    data = "Price: 20 € – “quoted” naïve café".encode("cp1252")

    document = extract(data, filename="legacy.txt")

    assert document.sections[0].text == "Price: 20 € – “quoted” naïve café"


def test_binary_garbage_named_txt_is_refused_as_not_text():
    garbage = bytes(range(256)) * 8

    with pytest.raises(ExtractionError, match="does not look like text"):
        extract(garbage, filename="notes.txt")


def test_control_bytes_without_nul_are_still_refused_as_not_text():
    data = b"hello\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f" * 50

    with pytest.raises(ExtractionError, match="does not look like text"):
        extract(data, filename="notes.txt")


def test_a_text_file_of_only_whitespace_has_no_text():
    with pytest.raises(ExtractionError, match="contains no text"):
        extract(b" \n\t\n  \n", filename="blank.txt")


def test_an_empty_file_is_refused():
    with pytest.raises(ExtractionError, match="is empty"):
        extract(b"", filename="nothing.txt")


def test_list_items_in_plain_text_stay_separate_paragraphs():
    document = extract(b"We accept:\n- cards\n- cash\n- vouchers", filename="payments.txt")

    assert document.sections[0].text == "We accept:\n\n- cards\n\n- cash\n\n- vouchers"


def test_text_is_normalised_to_nfc_with_single_spaces_and_no_control_characters():
    decomposed = "Cafe\u0301  au\t\tlait \x07 ok   \nsecond\u00a0line\u200b  "

    document = extract(decomposed.encode(), filename="odd.txt")

    assert document.sections[0].text == "Café au lait ok second line\u200b"


def test_non_latin_scripts_are_preserved():
    text = "Привет мир\n\nمرحبا بالعالم\n\nこんにちは世界\n\nनमस्ते दुनिया"

    document = extract(text.encode(), filename="scripts.txt")

    assert document.sections[0].text == text


def test_markdown_headings_build_the_heading_path_and_the_first_h1_is_the_title():
    text = "# Billing\n\nWe bill monthly.\n\n## Refunds\n\nWithin 30 days.\n\n### Exceptions\n\nGift cards.\n\n" \
           "## Invoices\n\nSent by email.\n"

    document = extract(text.encode(), filename="billing.md")

    assert document.title == "Billing"
    assert document.media_type == "text/markdown"
    assert document.sections == [
        Section(("Billing",), "We bill monthly."),
        Section(("Billing", "Refunds"), "Within 30 days."),
        Section(("Billing", "Refunds", "Exceptions"), "Gift cards."),
        Section(("Billing", "Invoices"), "Sent by email."),
    ]


def test_markdown_setext_headings_are_honoured():
    text = "Shipping\n========\n\nWe ship worldwide.\n\nCosts\n-----\n\nFree over 50 EUR.\n"

    document = extract(text.encode(), filename="shipping.md")

    assert [(s.heading_path, s.text) for s in document.sections] == [
        (("Shipping",), "We ship worldwide."),
        (("Shipping", "Costs"), "Free over 50 EUR."),
    ]


def test_markdown_text_before_any_heading_has_an_empty_heading_path():
    document = extract(b"Intro line.\n\n# Later\n\nBody.", filename="intro.md")

    assert document.sections[0] == Section((), "Intro line.")


def test_markdown_emphasis_and_link_syntax_is_stripped_keeping_the_link_text():
    text = ("Read **the guide** and *this* or __that__, ~~not this~~, `code`, "
            "[our FAQ](https://example.com/faq \"FAQ\") and ![a logo](logo.png). "
            "Mail <help@example.com>. Keep snake_case_names and 2 * 3 * 4 and \\*stars\\*.")

    document = extract(text.encode(), filename="inline.md")

    assert document.sections[0].text == (
        "Read the guide and this or that, not this, code, our FAQ and a logo. "
        "Mail help@example.com. Keep snake_case_names and 2 * 3 * 4 and *stars*."
    )


def test_markdown_code_fences_keep_their_text_and_lines_and_hide_no_headings():
    text = "# Setup\n\n```bash\n# not a heading\npip install  thing\n```\n\nDone."

    document = extract(text.encode(), filename="setup.md")

    assert document.sections == [Section(("Setup",), "# not a heading\npip install thing\n\nDone.")]


def test_markdown_front_matter_is_dropped():
    text = "---\ntitle: Hidden\nlayout: page\n---\n# Visible\n\nBody text."

    document = extract(text.encode(), filename="page.md")

    assert document.sections == [Section(("Visible",), "Body text.")]
    assert "layout" not in document.sections[0].text


def test_markdown_lists_tables_and_quotes_become_plain_paragraphs():
    text = ("* first item\n  continues here\n+ second\n1. numbered\n\n"
            "| Plan | Price |\n|------|------:|\n| Basic | 10 |\n\n> quoted **words**\n\n---\n\n[ref]: https://x.test")

    document = extract(text.encode(), filename="mixed.md")

    assert document.sections[0].text == (
        "- first item continues here\n\n- second\n\n1. numbered\n\nPlan | Price\n\nBasic | 10\n\nquoted words"
    )


def test_pasted_text_is_read_like_markdown_with_the_given_title():
    document = extract_text("Intro.\n\n## Returns\n\nSend it back **unused**.", title="  Store  policy ")

    assert document.title == "Store policy"
    assert document.media_type == "text/markdown"
    assert document.sections == [Section((), "Intro."), Section(("Returns",), "Send it back unused.")]


def test_empty_pasted_text_is_refused():
    with pytest.raises(ExtractionError, match="pasted text is empty"):
        extract_text("  \n\n ", title="Nothing")


def test_unsupported_extensions_are_refused_with_the_supported_list():
    with pytest.raises(ExtractionError) as raised:
        extract(b"PK\x03\x04", filename="deck.pptx")

    message = str(raised.value)
    assert "deck.pptx" in message
    assert all(extension in message for extension in SUPPORTED)


def test_the_media_type_decides_when_the_name_has_no_supported_extension():
    document = extract(b"# Crawled\n\nText.", filename="download", media_type="text/markdown; charset=utf-8")

    assert document.media_type == "text/markdown"
    assert document.title == "Crawled"


def test_a_file_over_the_size_limit_is_refused_naming_the_limit_in_mb():
    with pytest.raises(ExtractionError, match=r"at most 1 MB"):
        extract(b"a" * (1024 * 1024 + 1), filename="big.txt", limits=Limits(max_bytes=1024 * 1024))


def test_the_default_size_limit_is_25_mb():
    with pytest.raises(ExtractionError, match=r"at most 25 MB"):
        extract(b"a" * (25 * 1024 * 1024 + 1), filename="big.txt")


def test_text_beyond_the_character_limit_is_refused():
    with pytest.raises(ExtractionError, match="more than 100 characters"):
        extract(b"word " * 100, filename="long.txt", limits=Limits(max_text_chars=100))


def test_a_pdf_named_txt_is_refused_saying_it_looks_like_a_pdf():
    with pytest.raises(ExtractionError, match="named like plain text but its contents look like a PDF"):
        extract(b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", filename="report.txt")


def test_extraction_errors_are_validation_errors_with_a_stable_code():
    with pytest.raises(ValidationError) as raised:
        extract(b"", filename="x.txt")

    assert raised.value.code == "extraction_failed"
