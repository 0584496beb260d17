"""Word documents zipped by hand: text, headings resolved through styles, tables, and hostile or broken files."""

from __future__ import annotations

import pytest

from appliance.knowledge.extract import ExtractionError, Limits, Section, extract
from tests.appliance.knowledge.files import MB, docx, w_paragraph, w_styles, w_table, with_zeros_member, zip_of

# Word names style ids in the user's language; only the style *names* say which style is a heading.
GERMAN_STYLES = w_styles({"Titel": "Title", "berschrift1": "heading 1", "berschrift2": "heading 2",
                          "Standard": "Normal"})


def test_a_docx_has_its_paragraphs_under_headings_resolved_through_style_names():
    body = (w_paragraph("Handbook", style="Titel") + w_paragraph("Welcome aboard.", style="Standard")
            + w_paragraph("Billing", style="berschrift1") + w_paragraph("We bill monthly.")
            + w_paragraph("Refunds", style="berschrift2") + w_paragraph("Within 30 days.")
            + w_paragraph("Support", style="berschrift1") + w_paragraph("Call us."))

    document = extract(docx(body, styles=GERMAN_STYLES), filename="handbook.docx")

    assert document.media_type == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert document.sections == [
        Section(("Handbook",), "Welcome aboard."),
        Section(("Handbook", "Billing"), "We bill monthly."),
        Section(("Handbook", "Billing", "Refunds"), "Within 30 days."),
        Section(("Handbook", "Support"), "Call us."),
    ]


def test_a_docx_without_styles_part_still_knows_the_conventional_heading_ids():
    body = w_paragraph("Intro text.") + w_paragraph("Setup", style="Heading1") + w_paragraph("Plug it in.")

    document = extract(docx(body), filename="setup.docx")

    assert document.sections == [Section((), "Intro text."), Section(("Setup",), "Plug it in.")]


def test_a_custom_style_based_on_a_heading_is_a_heading_too():
    styles = w_styles({"Heading1": "heading 1"}).replace(
        "</w:styles>",
        '<w:style w:type="paragraph" w:styleId="Fancy"><w:name w:val="Fancy chapter"/>'
        '<w:basedOn w:val="Heading1"/></w:style></w:styles>',
    )
    body = w_paragraph("Chapter one", style="Fancy") + w_paragraph("Text.")

    assert extract(docx(body, styles=styles), filename="fancy.docx").sections == [Section(("Chapter one",), "Text.")]


def test_a_docx_title_comes_from_its_core_properties():
    document = extract(docx(w_paragraph("Body."), title="Employee Handbook 2026"), filename="eh.docx")

    assert document.title == "Employee Handbook 2026"


def test_a_docx_without_core_title_takes_its_title_paragraph_else_the_file_name():
    titled = docx(w_paragraph("Price list", style="Titel") + w_paragraph("Ten euros."), styles=GERMAN_STYLES)

    assert extract(titled, filename="p.docx").title == "Price list"
    assert extract(docx(w_paragraph("Ten euros.")), filename="prices-2026.docx").title == "prices-2026"


def test_docx_tables_become_rows_of_cells_joined_with_bars():
    body = w_paragraph("Plans:") + w_table([["Plan", "Price"], ["Basic", "10 EUR"], ["", ""], ["Pro", "", "25 EUR"]])

    document = extract(docx(body), filename="plans.docx")

    assert document.sections[0].text == "Plans:\n\nPlan | Price\n\nBasic | 10 EUR\n\nPro | 25 EUR"


def test_docx_runs_tabs_and_breaks_join_and_deleted_or_fallback_text_is_left_out():
    body = ('<w:p><w:r><w:t>Split</w:t></w:r><w:r><w:t xml:space="preserve">ted run</w:t><w:tab/><w:t>tab</w:t>'
            '<w:br/><w:t>break</w:t></w:r><w:del><w:r><w:delText>DELETED</w:delText></w:r></w:del>'
            '<w:r><w:fldChar/><w:instrText>FIELD-CODE</w:instrText></w:r></w:p>'
            '<w:sdt><w:sdtContent><w:p><w:r><w:t>Inside a content control</w:t></w:r></w:p></w:sdtContent></w:sdt>')

    document = extract(docx(body), filename="runs.docx")

    assert document.sections[0].text == "Splitted run tab break\n\nInside a content control"


def test_docx_keeps_non_latin_scripts():
    body = w_paragraph("Ελληνικά κείμενα") + w_paragraph("日本語のテキスト") + w_paragraph("עברית")

    assert extract(docx(body), filename="scripts.docx").sections[0].text == (
        "Ελληνικά κείμενα\n\n日本語のテキスト\n\nעברית"
    )


def test_a_docx_that_is_not_a_zip_is_refused_saying_what_it_seems_to_be():
    with pytest.raises(ExtractionError, match="named like a Word document .* look like plain text"):
        extract(b"This was saved as text, not as a Word file.", filename="letter.docx")


def test_an_old_binary_word_file_renamed_to_docx_is_refused_with_advice():
    with pytest.raises(ExtractionError, match=r"old-style Office file .*save it as \.docx"):
        extract(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), filename="old.docx")


def test_a_zip_without_word_document_part_is_refused():
    with pytest.raises(ExtractionError, match="no word/document.xml"):
        extract(zip_of({"readme.txt": "hello"}), filename="fake.docx")


def test_an_excel_workbook_named_docx_is_refused_saying_it_is_a_workbook():
    with pytest.raises(ExtractionError, match="look like an Excel workbook"):
        extract(zip_of({"xl/workbook.xml": "<workbook/>"}), filename="sheet.docx")


def test_a_truncated_docx_is_refused_as_damaged():
    data = docx(w_paragraph("Some text. " * 200))

    with pytest.raises(ExtractionError, match="damaged"):
        extract(data[: len(data) - 40], filename="cut.docx")


def test_a_docx_with_malformed_xml_is_refused_as_damaged():
    data = zip_of({"word/document.xml": "<w:document><w:body><w:p>unclosed"})

    with pytest.raises(ExtractionError, match="not well-formed XML"):
        extract(data, filename="bad.docx")


def test_a_docx_declaring_entities_is_refused_before_they_expand():
    prolog = ('<!DOCTYPE w:document [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
              '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>')
    data = docx(w_paragraph("&lol3;").replace("&amp;lol3;", "&lol3;"), prolog=prolog)

    with pytest.raises(ExtractionError, match="declares a DOCTYPE or entities"):
        extract(data, filename="laughs.docx")


def test_a_docx_zip_bomb_of_300_mb_is_refused_under_the_default_limits():
    bomb = with_zeros_member(docx(w_paragraph("Looks harmless.")), "word/media/zeros.bin", 300 * MB)

    assert len(bomb) < 25 * MB
    with pytest.raises(ExtractionError, match="possible zip bomb"):
        extract(bomb, filename="bomb.docx")


def test_a_docx_member_compressed_far_beyond_the_ratio_limit_is_refused():
    suspicious = with_zeros_member(docx(w_paragraph("Text.")), "word/media/zeros.bin", 4 * MB)

    with pytest.raises(ExtractionError, match="possible zip bomb"):
        extract(suspicious, filename="ratio.docx")


def test_members_that_together_expand_past_the_limit_are_refused():
    data = docx(w_paragraph("Text."), extra={f"word/media/{n}.txt": bytes(range(256)) * 400 for n in range(5)})

    with pytest.raises(ExtractionError, match="possible zip bomb"):
        extract(data, filename="many.docx", limits=Limits(max_uncompressed_bytes=400 * 1024))


def test_small_repetitive_members_are_not_mistaken_for_a_zip_bomb():
    data = docx(w_paragraph("Real text."), extra={"word/fontTable.xml": "<fonts>" + "<font/>" * 20000 + "</fonts>"})

    assert extract(data, filename="fonts.docx").sections[0].text == "Real text."


@pytest.mark.parametrize("depth", [250, 1_500])
def test_a_docx_nested_deeper_than_any_word_processor_writes_is_refused_by_name(depth):
    # Deeper still (90,000) compresses past 100:1 and is refused as a zip bomb before it is parsed.
    body = "<w:p><w:r>" + "<w:smartTag>" * depth + "<w:t>hi</w:t>" + "</w:smartTag>" * depth + "</w:r></w:p>"

    with pytest.raises(ExtractionError, match="nests its word/document.xml part more than 200 elements deep"):
        extract(docx(body), filename="deep.docx")


def test_a_docx_nested_as_deep_as_real_documents_go_is_read():
    body = "<w:p><w:r>" + "<w:smartTag>" * 120 + "<w:t>Deep but fine.</w:t>" + "</w:smartTag>" * 120 + "</w:r></w:p>"

    assert extract(docx(body), filename="deep.docx").sections == [Section((), "Deep but fine.")]
