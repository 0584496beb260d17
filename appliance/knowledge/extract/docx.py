"""Word documents (.docx) read with zipfile and ElementTree: paragraphs, headings from styles, tables as rows."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import PurePath

from appliance.knowledge.extract.detect import DOCX
from appliance.knowledge.extract.document import Document, ExtractionError, SectionBuilder, one_line, require_text
from appliance.knowledge.extract.limits import Limits, open_zip, read_member, refuse_doctype

KIND = "Word document"
# Word nests tables in tables and text boxes in shapes, a few dozen elements deep at most; the readers below walk
# the tree recursively, so a part nested deeper than this is refused before they see it.
MAX_DEPTH = 200
_HEADING_NAME = re.compile(r"heading\s*([1-9])", re.I)
# Subtrees with no text of their own for a reader: deleted runs, field codes, and the fallback copy of content
# that Word writes twice for old readers (mc:Fallback).
_SKIPPED = {"del", "delText", "instrText", "Fallback", "pPr", "rPr", "tblPr", "tcPr", "trPr", "footnoteReference"}


def _local(tag: str) -> str:
    """A tag or attribute name without its namespace: transitional and strict OOXML differ only there."""
    return tag.rsplit("}", 1)[-1]


def _attr(element: ET.Element, name: str) -> str | None:
    return next((value for key, value in element.attrib.items() if _local(key) == name), None)


def _child(element: ET.Element | None, *path: str) -> ET.Element | None:
    for name in path:
        if element is None:
            return None
        element = next((child for child in element if _local(child.tag) == name), None)
    return element


def parse_part(archive: zipfile.ZipFile, part: str, *, name: str, kind: str, limits: Limits,
               required: bool = True) -> ET.Element | None:
    """One XML part of an Office file, refused if it declares a DOCTYPE; None for a missing optional part."""
    if not required and part not in archive.namelist():
        return None
    content = read_member(archive, part, name=name, kind=kind, limits=limits)
    refuse_doctype(content, name=name, part=part)
    try:
        root = ET.fromstring(content)
    except ET.ParseError as error:
        raise ExtractionError(f"“{name}” is damaged: its {part} part is not well-formed XML.") from error
    if _deeper_than(root, MAX_DEPTH):
        raise ExtractionError(f"“{name}” nests its {part} part more than {MAX_DEPTH} elements deep, which no word "
                              "processor writes; it cannot be read.")
    return root


def _deeper_than(root: ET.Element, limit: int) -> bool:
    """Whether any element lies more than `limit` levels below `root`; walked without recursion."""
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in element)
    return False


def _heading_levels(styles: ET.Element | None) -> dict[str, int]:
    """Paragraph style id -> heading level (0 for Title), from style names, outline levels and `basedOn` chains."""
    declared: dict[str, tuple[str, str | None, int | None]] = {}
    for style in styles if styles is not None else ():
        if _local(style.tag) == "style" and _attr(style, "type") in (None, "paragraph"):
            style_name = _child(style, "name")
            based_on = _child(style, "basedOn")
            declared[_attr(style, "styleId") or ""] = (
                (_attr(style_name, "val") or "") if style_name is not None else "",
                _attr(based_on, "val") if based_on is not None else None,
                _outline_level(_child(style, "pPr", "outlineLvl")),
            )

    def level(style_id: str, depth: int = 0) -> int | None:
        style_name, based_on, outline = declared[style_id]
        if style_name.strip().lower() == "title":
            return 0
        if match := _HEADING_NAME.fullmatch(style_name.strip()):
            return int(match.group(1))
        if outline is not None:
            return outline
        if based_on in declared and depth < 10:
            return level(based_on, depth + 1)
        return None

    return {style_id: found for style_id in declared if (found := level(style_id)) is not None}


def _outline_level(element: ET.Element | None) -> int | None:
    """Word's outline level 0-8 as a heading level 1-9; 9 means body text."""
    value = _attr(element, "val") if element is not None else None
    return int(value) + 1 if value is not None and value.isdigit() and int(value) < 9 else None


def _style_level(style_id: str, levels: dict[str, int]) -> int | None:
    if style_id in levels:
        return levels[style_id]
    # Without styles.xml only the conventional ids are left to go on.
    if style_id.lower() == "title":
        return 0
    match = _HEADING_NAME.fullmatch(style_id)
    return int(match.group(1)) if match else None


def _collect_runs(element: ET.Element, parts: list[str], boxes: list[ET.Element]) -> None:
    for child in element:
        tag = _local(child.tag)
        if tag in _SKIPPED:
            continue
        if tag == "t":
            parts.append(child.text or "")
        elif tag in ("tab", "br", "cr"):
            parts.append(" ")
        elif tag == "noBreakHyphen":
            parts.append("-")
        elif tag == "txbxContent":
            boxes.append(child)  # a text box: its paragraphs follow the one that anchors it
        else:
            _collect_runs(child, parts, boxes)


def _paragraph_text(paragraph: ET.Element) -> tuple[str, list[ET.Element]]:
    parts: list[str] = []
    boxes: list[ET.Element] = []
    _collect_runs(paragraph, parts, boxes)
    return "".join(parts), boxes


def _cell_text(cell: ET.Element) -> str:
    texts: list[str] = []
    for child in cell:
        tag = _local(child.tag)
        if tag == "p":
            text, boxes = _paragraph_text(child)
            texts.append(text)
            texts.extend(_cell_text(box) for box in boxes)
        elif tag == "tbl":
            texts.extend(_cell_text(row) for row in child if _local(row.tag) == "tr")
        elif tag not in _SKIPPED:
            texts.append(_cell_text(child))
    return one_line(" ".join(texts))


def _add_blocks(container: ET.Element, builder: SectionBuilder, levels: dict[str, int]) -> None:
    for child in container:
        tag = _local(child.tag)
        if tag == "p":
            text, boxes = _paragraph_text(child)
            style = _child(child, "pPr", "pStyle")
            level = _style_level(_attr(style, "val") or "", levels) if style is not None else None
            if level is None:
                level = _outline_level(_child(child, "pPr", "outlineLvl"))
            if level is not None and text.strip():
                builder.heading(level, text)
            else:
                builder.paragraph(text)
            for box in boxes:
                _add_blocks(box, builder, levels)
        elif tag == "tbl":
            for row in (row for row in child if _local(row.tag) == "tr"):
                cells = [_cell_text(cell) for cell in row if _local(cell.tag) in ("tc", "sdt", "customXml")]
                builder.paragraph(" | ".join(cell for cell in cells if cell))
        elif tag not in _SKIPPED and tag != "sectPr":
            _add_blocks(child, builder, levels)  # content controls, custom XML, smart tags wrap ordinary blocks


def read_docx(data: bytes, *, name: str, limits: Limits) -> Document:
    with open_zip(data, name=name, kind=KIND, limits=limits) as archive:
        document = parse_part(archive, "word/document.xml", name=name, kind=KIND, limits=limits)
        styles = parse_part(archive, "word/styles.xml", name=name, kind=KIND, limits=limits, required=False)
        core = parse_part(archive, "docProps/core.xml", name=name, kind=KIND, limits=limits, required=False)
    body = _child(document, "body")
    if body is None:
        raise ExtractionError(f"“{name}” is damaged: its word/document.xml part has no body.")
    builder = SectionBuilder(max_chars=limits.max_text_chars, name=name)
    _add_blocks(body, builder, _heading_levels(styles))
    sections = require_text(builder.sections(), name=name)
    core_title = one_line(getattr(_child(core, "title"), "text", None) or "")
    title = core_title or builder.first_heading() or PurePath(name).stem
    return Document(title=title, sections=sections, qa_pairs=[], media_type=DOCX)
