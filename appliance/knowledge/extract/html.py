"""HTML pages, uploaded or crawled: visible text of the main content, headings kept, page chrome dropped."""

from __future__ import annotations

import codecs
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import PurePath

from appliance.knowledge.extract.document import Document, ExtractionError, SectionBuilder, one_line, require_text
from appliance.knowledge.extract.limits import DEFAULT_LIMITS, Limits
from appliance.knowledge.extract.text import looks_binary

# Never shown as page text: code, styling, and the chrome repeated on every page of a site.
_SKIPPED = {"script", "style", "noscript", "template", "svg", "math", "nav", "footer", "header", "head", "iframe",
            "object", "canvas", "select", "datalist"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
_BLOCKS = {"address", "article", "aside", "blockquote", "body", "br", "caption", "center", "dd", "details", "dialog",
           "div", "dl", "dt", "fieldset", "figcaption", "figure", "form", "hr", "legend", "li", "main", "ol", "p",
           "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul", "html"}
_CELLS = {"td", "th"}
_HEAD_CONTENT = {"head", "title", "meta", "link", "style", "script", "base", "noscript", "template"}
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
# Open elements tracked at once; real pages nest a few dozen deep, a hostile one 90,000.
MAX_DEPTH = 512
# An opening tag closes an open element of these kinds, searching no further up than the boundary elements.
_IMPLIED_END = {
    "li": ({"li"}, {"ul", "ol"}),
    "dt": ({"dt", "dd"}, {"dl"}),
    "dd": ({"dt", "dd"}, {"dl"}),
    "td": ({"td", "th"}, {"tr", "table"}),
    "th": ({"td", "th"}, {"tr", "table"}),
    "tr": ({"tr", "td", "th"}, {"table", "tbody", "thead", "tfoot"}),
    "option": ({"option"}, {"select", "datalist"}),
}
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_CELL_BREAK = "\x1f"  # marks a cell boundary inside a row until the row is flushed
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)


class _Element:
    __slots__ = ("tag", "skipped", "region")

    def __init__(self, tag: str, skipped: bool, region: str | None) -> None:
        self.tag, self.skipped, self.region = tag, skipped, region


class _PageParser(HTMLParser):
    """Turns a page into ("heading", level, text, region) and ("paragraph", keep_lines, text, region) blocks.

    What the open elements say (skipped, in main or article, inside svg) is kept as counts beside the stack, so each
    tag costs the same however deep the page nests: a page of 90,000 nested divs must not take minutes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, int, str, str]] = []
        self.title = ""
        self._stack: list[_Element] = []
        self._open: Counter[str] = Counter()  # open elements by tag, regions ("@main") and skipped ones ("@skip")
        self._buffer: list[str] = []
        self._heading: int | None = None
        self._in_title = False

    @property
    def _skipping(self) -> bool:
        return self._open["@skip"] > 0

    @property
    def _region(self) -> str:
        return "main" if self._open["@main"] else "article" if self._open["@article"] else "page"

    def _push(self, element: _Element) -> None:
        if len(self._stack) >= MAX_DEPTH:
            return  # deeper than any real page: its tags only carry their text
        self._stack.append(element)
        self._open[element.tag] += 1
        self._open["@skip"] += element.skipped
        if element.region:
            self._open[f"@{element.region}"] += 1

    def _pop_to(self, depth: int) -> None:
        for element in self._stack[depth:]:
            self._open[element.tag] -= 1
            self._open["@skip"] -= element.skipped
            if element.region:
                self._open[f"@{element.region}"] -= 1
        del self._stack[depth:]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key.lower(): (value or "") for key, value in attrs}
        if tag == "title" and not self.title and not self._open["svg"]:
            self._in_title = True
        self._close_implied(tag)
        hidden = ("hidden" in values or values.get("aria-hidden", "").strip().lower() == "true"
                  or bool(_HIDDEN_STYLE.search(values.get("style", ""))))
        if not self._skipping:
            breaks = tag in _BLOCKS or tag in _HEADINGS
            if self._heading is not None and tag == "br":
                self._buffer.append(" ")
            elif self._heading is not None and breaks and "".join(self._buffer).strip():
                self._end_heading()  # an unclosed heading must not swallow the page
            elif self._heading is None and breaks:
                self._flush()
            elif tag in _CELLS and "".join(self._buffer).strip():
                self._buffer.append(_CELL_BREAK)
            if tag in _HEADINGS and not hidden:
                self._end_heading()
                self._heading = _HEADINGS[tag]
        if tag not in _VOID:
            is_main = tag == "main" or values.get("role") == "main"
            region = "main" if is_main else "article" if tag == "article" else None
            self._push(_Element(tag, tag in _SKIPPED or hidden, region))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if not self._open[tag]:
            return  # a stray end tag: ignored, as browsers do
        depth = next(index for index in range(len(self._stack) - 1, -1, -1) if self._stack[index].tag == tag)
        if not self._skipping:  # text is emitted before the elements close, so it keeps their region
            if self._heading is not None:
                if any(element.tag in _HEADINGS for element in self._stack[depth:]):
                    self._end_heading()
            elif tag in _BLOCKS or tag in _HEADINGS:
                self._flush(keep_lines=tag == "pre")
        self._pop_to(depth)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skipping:
            self._buffer.append(data)

    def parse_html_declaration(self, i: int) -> int:
        try:
            return super().parse_html_declaration(i)
        except AssertionError:
            # Python before 3.13 asserts on a malformed "<![...": browsers read it as a bogus comment up to ">".
            end = self.rawdata.find(">", i)
            return -1 if end < 0 else end + 1

    def close(self) -> None:
        super().close()
        self._end_heading()
        self._flush()

    def _end_heading(self) -> None:
        if self._heading is not None:
            self._emit("heading", self._heading, one_line("".join(self._buffer).replace(_CELL_BREAK, " ")))
            self._buffer, self._heading = [], None

    def _close_implied(self, tag: str) -> None:
        if tag not in _HEAD_CONTENT and self._open["head"]:
            self.handle_endtag("head")  # a page that never closes <head> starts its body with the first other tag
        if tag in _BLOCKS and self._stack and self._stack[-1].tag == "p":
            self.handle_endtag("p")
        closes, boundary = _IMPLIED_END.get(tag, ((), ()))
        if not any(self._open[name] for name in closes):
            return
        for element in reversed(self._stack):
            if element.tag in boundary:
                return
            if element.tag in closes:
                self.handle_endtag(element.tag)
                return

    def _flush(self, *, keep_lines: bool = False) -> None:
        text = "".join(self._buffer)
        self._buffer = []
        cells = [cell.strip() for cell in text.split(_CELL_BREAK)]
        text = " | ".join(cell for cell in cells if cell)
        if text.strip():
            self._emit("paragraph", int(keep_lines), text)

    def _emit(self, kind: str, number: int, text: str) -> None:
        if text:
            self.blocks.append((kind, number, text, self._region))


def decode_html(html: bytes, *, name: str) -> str:
    """The page's text: a BOM or <meta charset> decides, else UTF-8, else Windows-1252."""
    bom = next((codec for bom, codec in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                                          (codecs.BOM_UTF16_BE, "utf-16")) if html.startswith(bom)), None)
    if bom:
        return html.decode(bom, errors="replace")
    if looks_binary(html[:65536]):
        raise ExtractionError(f"“{name}” does not look like an HTML page: it contains binary data.")
    declared = _META_CHARSET.search(html[:4096])
    if declared:
        try:
            return html.decode(codecs.lookup(declared.group(1).decode("ascii")).name, errors="replace")
        except LookupError:
            pass  # an unknown charset name: fall through to the usual guesses
    try:
        return html.decode("utf-8")
    except UnicodeDecodeError:
        return html.decode("cp1252", errors="replace")


def extract_html(html: bytes | str, *, url: str | None = None, title_hint: str = "",
                 limits: Limits = DEFAULT_LIMITS) -> Document:
    """The visible text of a page, preferring its <main> or <article> content.

    For the crawler a page without text is not an error: it comes back with no sections, for the caller to skip.
    """
    fallback_title = one_line(title_hint) or url or "Web page"
    return _extract(html, name=url or title_hint or "The page", fallback_title=fallback_title, limits=limits)


def read_html(data: bytes, *, name: str, limits: Limits) -> Document:
    document = _extract(data, name=name, fallback_title=PurePath(name).stem, limits=limits)
    require_text(document.sections, name=name)
    return document


def _extract(html: bytes | str, *, name: str, fallback_title: str, limits: Limits) -> Document:
    text = decode_html(html, name=name) if isinstance(html, bytes) else html
    parser = _PageParser()
    parser.feed(text)
    parser.close()
    regions = {region for _, _, _, region in parser.blocks}
    chosen = "main" if "main" in regions else "article" if "article" in regions else None
    builder = SectionBuilder(max_chars=limits.max_text_chars, name=name)
    for kind, number, block, region in parser.blocks:
        if chosen is not None and region != chosen:
            continue
        if kind == "heading":
            builder.heading(number, block)
        else:
            builder.paragraph(block, keep_lines=bool(number))
    sections = builder.sections()
    first_h1 = next((block for kind, level, block, _ in parser.blocks if kind == "heading" and level == 1), None)
    title = one_line(parser.title) or first_h1 or fallback_title
    return Document(title=title, sections=sections, qa_pairs=[], media_type="text/html")
