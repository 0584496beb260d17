"""Question/answer tables: CSV in its common dialects and the first sheet of an Excel workbook."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import Workbook

from appliance.knowledge.extract import ExtractionError, Limits, extract
from tests.appliance.knowledge.files import MB, Formula, with_zeros_member, xlsx, zip_of

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_a_semicolon_csv_with_a_header_names_its_question_and_answer_columns():
    data = ("ID;Customer question;Topic;Our answer\n"
            "1;Do you ship abroad?;Shipping;Yes, to 30 countries, within 5 days.\n"
            "2;Can I pay by invoice?;Billing;Yes.\n").encode()

    document = extract(data, filename="faq.csv")

    assert document.media_type == "text/csv"
    assert document.title == "faq"
    assert document.sections == []
    assert document.qa_pairs == [("Do you ship abroad?", "Yes, to 30 countries, within 5 days."),
                                 ("Can I pay by invoice?", "Yes.")]


def test_a_csv_without_a_header_takes_the_first_two_columns():
    data = b"Do you ship abroad?,Yes,ignored\nWhere are you?,In Berlin,ignored\n"

    assert extract(data, filename="faq.csv").qa_pairs == [("Do you ship abroad?", "Yes"),
                                                         ("Where are you?", "In Berlin")]


def test_short_q_and_a_headers_are_recognised_in_any_case():
    assert extract(b"A,Q\nBlue.,Which colour?\n", filename="faq.csv").qa_pairs == [("Which colour?", "Blue.")]


def test_a_tab_separated_csv_is_sniffed():
    data = b"question\tanswer\nWhat does it cost, roughly?\tAbout 10 EUR, billed monthly.\n"

    assert extract(data, filename="faq.csv").qa_pairs == [("What does it cost, roughly?",
                                                          "About 10 EUR, billed monthly.")]


def test_quoted_csv_fields_keep_their_commas_and_line_breaks():
    data = b'question,answer\n"Hours, please?","Mon-Fri 9-17.\r\nSat 10-14."\r\n'

    assert extract(data, filename="faq.csv").qa_pairs == [("Hours, please?", "Mon-Fri 9-17.\nSat 10-14.")]


def test_blank_rows_and_rows_missing_a_question_or_answer_are_skipped():
    data = b"question,answer\n\n,orphan answer\norphan question,\n , \nReal?,Yes\n"

    assert extract(data, filename="faq.csv").qa_pairs == [("Real?", "Yes")]


def test_a_csv_with_no_complete_pair_is_refused():
    with pytest.raises(ExtractionError, match="no row has both a question and an answer"):
        extract(b"question,answer\nOnly a question?,\n", filename="faq.csv")


def test_a_single_column_csv_is_refused_with_advice():
    with pytest.raises(ExtractionError, match="single column") as raised:
        extract(b"just\none\ncolumn\n", filename="list.csv")

    assert "second" in str(raised.value)


def test_a_windows_1252_csv_is_decoded():
    data = "Frage;Antwort\nWas kostet Versand?;5 € pro Bestellung\n".encode("cp1252")

    assert extract(data, filename="faq.csv").qa_pairs == [("Was kostet Versand?", "5 € pro Bestellung")]


def test_a_utf8_csv_with_a_byte_order_mark_reads_its_header():
    data = "\ufeffQuestion,Answer\nÇa va?,Oui.\n".encode()

    assert extract(data, filename="faq.csv").qa_pairs == [("Ça va?", "Oui.")]


def test_a_csv_with_more_rows_than_the_limit_is_refused():
    data = b"".join(b"q%d?,a%d\n" % (n, n) for n in range(11))

    with pytest.raises(ExtractionError, match="more than 10 rows"):
        extract(data, filename="faq.csv", limits=Limits(max_rows=10))


def test_binary_data_named_csv_is_refused_as_not_text():
    with pytest.raises(ExtractionError, match="does not look like text"):
        extract(bytes(range(256)) * 4, filename="faq.csv")


def test_an_xlsx_uses_the_cached_values_of_formulas():
    data = xlsx([["Question", "Answer"],
                 ["How many days to return?", Formula("10*3", 30)],
                 [Formula('"Where is "&"the office?"', "Where is the office?"), "Berlin"]])

    document = extract(data, filename="faq.xlsx")

    assert document.media_type == XLSX
    assert document.title == "faq"
    assert document.qa_pairs == [("How many days to return?", "30"), ("Where is the office?", "Berlin")]


def test_an_xlsx_without_a_header_takes_the_first_two_columns_of_the_first_sheet_only():
    data = xlsx([["Price?", 9.5, "note"], [None, None], ["Founded?", 1999]], second_sheet=[["Other?", "Ignored"]])

    assert extract(data, filename="faq.xlsx").qa_pairs == [("Price?", "9.5"), ("Founded?", "1999")]


def test_an_xlsx_header_can_name_columns_anywhere_in_the_row():
    data = xlsx([["Topic", "Answer", "Question"], ["Billing", "Monthly.", "How often do you bill?"]])

    assert extract(data, filename="faq.xlsx").qa_pairs == [("How often do you bill?", "Monthly.")]


def test_an_xlsx_with_no_complete_pair_is_refused():
    with pytest.raises(ExtractionError, match="no question and answer pairs"):
        extract(xlsx([["Question", "Answer"], ["Unanswered?", None]]), filename="faq.xlsx")


def test_an_xlsx_zip_bomb_is_refused_before_openpyxl_reads_it():
    bomb = with_zeros_member(xlsx([["Q?", "A"]]), "xl/media/zeros.bin", 300 * MB)

    with pytest.raises(ExtractionError, match="possible zip bomb"):
        extract(bomb, filename="bomb.xlsx")


def test_an_xlsx_whose_sheet_declares_entities_is_refused():
    data = xlsx([["Q?", "A"]], sheet_prolog='<!DOCTYPE worksheet [<!ENTITY boom "boom">]>')

    with pytest.raises(ExtractionError, match="declares a DOCTYPE"):
        extract(data, filename="faq.xlsx")


def test_an_xlsx_with_a_broken_workbook_part_is_refused_as_damaged():
    data = zip_of({"[Content_Types].xml": "<Types/>", "xl/workbook.xml": "<workbook><sheets>"})

    with pytest.raises(ExtractionError, match="damaged"):
        extract(data, filename="faq.xlsx")


def test_a_csv_renamed_to_xlsx_is_refused_saying_it_looks_like_text():
    with pytest.raises(ExtractionError, match="named like an Excel workbook .* look like plain text"):
        extract(b"question,answer\nA?,B\n", filename="faq.xlsx")


def test_xlsx_dates_times_and_booleans_are_written_as_text():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Question", "Answer"])
    sheet.append(["When did we open?", dt.datetime(2026, 1, 2)])
    sheet.append(["When is the next talk?", dt.datetime(2026, 1, 2, 9, 30)])
    sheet.append(["Is parking free?", True])
    buffer = io.BytesIO()
    workbook.save(buffer)

    assert extract(buffer.getvalue(), filename="faq.xlsx").qa_pairs == [
        ("When did we open?", "2026-01-02"),
        ("When is the next talk?", "2026-01-02 09:30:00"),
        ("Is parking free?", "TRUE"),
    ]
