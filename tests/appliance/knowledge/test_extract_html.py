"""HTML pages, uploaded or crawled: only the visible main text, with headings and a title."""

from __future__ import annotations

import pytest

from appliance.knowledge.extract import ExtractionError, Section, extract, extract_html

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <title>Refund policy &amp; returns | ACME</title>
  <style>body { color: red } .secret { }</style>
  <script>var tracking = "SCRIPT-TEXT";</script>
</head>
<body>
  <header><a href="/">ACME home HEADER-TEXT</a></header>
  <nav><ul><li>Products NAV-TEXT</li><li>About</li></ul></nav>
  <div hidden>HIDDEN-ATTRIBUTE-TEXT</div>
  <span aria-hidden="true">ARIA-HIDDEN-TEXT</span>
  <p style="display: none">STYLE-HIDDEN-TEXT</p>
  <noscript>Please enable JavaScript NOSCRIPT-TEXT</noscript>
  <template><p>TEMPLATE-TEXT</p></template>
  <svg><title>SVG-TITLE</title><text>SVG-TEXT</text></svg>
  <h1>Refunds</h1>
  <p>We refund   purchases
     within <b>30</b>&nbsp;days&hellip;</p>
  <h2>Exceptions</h2>
  <ul><li>Gift cards</li><li>Sale items<br>bought online</li></ul>
  <footer>© ACME FOOTER-TEXT</footer>
</body>
</html>"""


def test_html_keeps_visible_text_under_its_headings():
    document = extract(PAGE.encode(), filename="refunds.html")

    assert document.media_type == "text/html"
    assert document.sections == [
        Section(("Refunds",), "We refund purchases within 30 days…"),
        Section(("Refunds", "Exceptions"), "Gift cards\n\nSale items\n\nbought online"),
    ]


def test_html_drops_scripts_styles_navigation_chrome_and_hidden_elements():
    document = extract(PAGE.encode(), filename="refunds.htm")
    text = " ".join(section.text + " ".join(section.heading_path) for section in document.sections)

    for marker in ("SCRIPT", "color: red", "NAV", "HEADER", "FOOTER", "HIDDEN", "NOSCRIPT", "TEMPLATE", "SVG"):
        assert marker not in text


def test_html_title_comes_from_the_title_element_with_entities_decoded():
    assert extract(PAGE.encode(), filename="refunds.html").title == "Refund policy & returns | ACME"


def test_html_without_a_title_element_takes_the_first_h1():
    document = extract(b"<body><h2>Minor</h2><p>a</p><h1>Main heading</h1><p>b</p></body>", filename="x.html")

    assert document.title == "Main heading"


def test_html_without_title_or_h1_is_named_after_the_file():
    assert extract(b"<p>Just text</p>", filename="contact-us.html").title == "contact-us"


def test_html_prefers_the_main_element_over_the_rest_of_the_page():
    html = "<body><aside>Sidebar promo</aside><main><h1>Docs</h1><p>Real content.</p></main><p>Cookie note</p></body>"

    document = extract(html.encode(), filename="docs.html")

    assert document.sections == [Section(("Docs",), "Real content.")]


def test_text_directly_inside_main_or_an_unclosed_paragraph_stays_in_its_region():
    html = "<body><p>Outside</p><main>Direct text<p>Unclosed paragraph</main><p>After</p></body>"

    document = extract(html.encode(), filename="direct.html")

    assert document.sections == [Section((), "Direct text\n\nUnclosed paragraph")]


def test_html_with_articles_and_no_main_keeps_only_the_articles():
    html = ("<body><div class=banner>Sign up today</div><article><p>First post.</p></article>"
            "<div>Widget</div><article><p>Second post.</p></article></body>")

    document = extract(html.encode(), filename="blog.html")

    assert document.sections == [Section((), "First post.\n\nSecond post.")]


def test_html_block_elements_break_paragraphs_and_table_rows_join_their_cells():
    html = ("<div>One<div>Two</div>Three</div><section>Four</section>"
            "<table><tr><th>Plan</th><th>Price</th></tr><tr><td>Basic</td><td></td><td>10 EUR</td></tr></table>")

    document = extract(html.encode(), filename="blocks.html")

    assert document.sections[0].text == "One\n\nTwo\n\nThree\n\nFour\n\nPlan | Price\n\nBasic | 10 EUR"


def test_html_preformatted_text_keeps_its_lines():
    document = extract(b"<pre>line one\n    indented two</pre><p>after</p>", filename="code.html")

    assert document.sections[0].text == "line one\n indented two\n\nafter"


def test_malformed_html_with_unclosed_tags_is_still_read():
    html = "<html><body><h1>Welcome<p>First para<p>Second <b>bold<li>item one<li>item two</ul></span></div><h2>Next"

    document = extract(html.encode(), filename="broken.html")

    assert document.sections == [
        Section(("Welcome",), "First para\n\nSecond bold\n\nitem one\n\nitem two"),
    ]


def test_a_malformed_marked_section_is_skipped_like_a_bogus_comment():
    document = extract(b"<p>before</p><![ oops ]><p>after</p>", filename="marked.html")

    assert document.sections == [Section((), "before\n\nafter")]


def test_a_page_that_never_closes_its_head_still_shows_its_body():
    document = extract(b"<html><head><title>Shop</title><meta charset=utf-8><h1>Open<br>daily</h1><p>9 to 5",
                       filename="shop.html")

    assert document.title == "Shop"
    assert document.sections == [Section(("Open daily",), "9 to 5")]


def test_an_unclosed_hidden_list_item_hides_only_itself():
    document = extract(b"<ul><li hidden>secret<li>visible</ul>", filename="list.html")

    assert document.sections == [Section((), "visible")]


def test_html_declared_in_a_meta_charset_is_decoded_with_it():
    html = '<html><head><meta charset="windows-1252"><title>Caf\xe9</title></head><body><p>Cr\xe8me br\xfbl\xe9e</p>'

    document = extract(html.encode("cp1252"), filename="menu.html")

    assert document.title == "Café"
    assert document.sections[0].text == "Crème brûlée"


def test_extract_html_for_the_crawler_takes_a_string_and_a_title_hint():
    document = extract_html("<p>Opening hours: 9-17.</p>", url="https://shop.example/hours", title_hint="Hours")

    assert document.title == "Hours"
    assert document.sections == [Section((), "Opening hours: 9-17.")]


def test_extract_html_for_the_crawler_returns_no_sections_for_a_page_without_text():
    document = extract_html(b"<html><head><title>App</title><script>boot()</script></head><body></body></html>",
                            url="https://shop.example/app")

    assert document.title == "App"
    assert document.sections == []


def test_an_uploaded_html_file_without_visible_text_is_refused():
    with pytest.raises(ExtractionError, match="contains no text"):
        extract(b"<html><body><nav>Only navigation</nav></body></html>", filename="empty.html")


@pytest.mark.parametrize("depth", [600, 90_000])
def test_a_page_nested_tens_of_thousands_deep_is_read_in_time_linear_in_its_size(depth):
    # Each tag used to rescan every open element: 90,000 nested divs took minutes of one core.
    page = ("<html><body><main>" + "<div>" * depth + "<p>Deep text.</p>" + "</div>" * depth
            + "<p>After.</p></main></body></html>")

    document = extract(page.encode(), filename="deep.html")

    assert [s.text for s in document.sections] == ["Deep text.\n\nAfter."]
