"""Real files for the extraction tests: PDFs drawn with fpdf2, Word and Excel files zipped by hand."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from xml.sax.saxutils import escape

from fpdf import FPDF
from PIL import Image

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
MB = 1024 * 1024


def zip_of(members: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# PDF ------------------------------------------------------------------------------------------------------------------

class _Pdf(FPDF):
    running_footer: str | None = None

    def footer(self) -> None:
        if self.running_footer:
            self.set_y(-15)
            self.set_font("Helvetica", size=8)
            self.cell(0, 10, f"{self.running_footer} - page {self.page_no()}")


def pdf(pages: list[list[tuple[str, str | list[str]]]], *, title: str | None = None, user_password: str | None = None,
        owner_password: str | None = None, running_footer: str | None = None) -> bytes:
    """Each page is a list of blocks: ("h1" | "h2", text), ("p", text wrapped by fpdf2), ("lines", [line, ...])."""
    document = _Pdf()
    document.running_footer = running_footer
    if title:
        document.set_title(title)
    for blocks in pages:
        document.add_page()
        for kind, content in blocks:
            if kind in ("h1", "h2"):
                document.set_font("Helvetica", "B", 20 if kind == "h1" else 15)
                document.cell(0, 10, str(content), new_x="LMARGIN", new_y="NEXT")
                continue
            document.set_font("Helvetica", size=11)
            if kind == "p":
                document.multi_cell(0, 6, str(content), new_x="LMARGIN", new_y="NEXT")
            else:
                for line in content:
                    document.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
            document.ln(5)
    if user_password is not None or owner_password is not None:
        document.set_encryption(owner_password=owner_password or "owner", user_password=user_password or "")
    return bytes(document.output())


def image_only_pdf() -> bytes:
    """A 'scan': one page holding a picture and no text at all."""
    document = FPDF()
    document.add_page()
    document.image(Image.new("RGB", (200, 280), "white"), x=10, y=10, w=190)
    return bytes(document.output())


# Word -----------------------------------------------------------------------------------------------------------------

def w_paragraph(text: str, *, style: str | None = None) -> str:
    properties = f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else ""
    return f'<w:p>{properties}<w:r><w:t xml:space="preserve">{escape(text)}</w:t></w:r></w:p>'


def w_table(rows: list[list[str]]) -> str:
    cells = ("".join(f"<w:tc>{w_paragraph(cell)}</w:tc>" for cell in row) for row in rows)
    return "<w:tbl>" + "".join(f"<w:tr>{row}</w:tr>" for row in cells) + "</w:tbl>"


def w_styles(styles: dict[str, str]) -> str:
    """styles.xml declaring paragraph styles: style id -> style name (Word localises ids, never names)."""
    declared = "".join(f'<w:style w:type="paragraph" w:styleId="{style_id}"><w:name w:val="{name}"/></w:style>'
                       for style_id, name in styles.items())
    return f'{XML_DECLARATION}<w:styles xmlns:w="{W}">{declared}</w:styles>'


def docx(body: str, *, styles: str | None = None, title: str | None = None, prolog: str = "",
         extra: dict[str, bytes | str] | None = None) -> bytes:
    """A Word document whose body is the given WordprocessingML; `prolog` goes between the declaration and root."""
    members: dict[str, bytes | str] = {
        "[Content_Types].xml": (
            f'{XML_DECLARATION}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'wordprocessingml.document.main+xml"/></Types>'
        ),
        "_rels/.rels": (
            f'{XML_DECLARATION}<Relationships xmlns="{PACKAGE_RELATIONSHIPS}"><Relationship Id="rId1" '
            f'Type="{RELATIONSHIPS}/officeDocument" Target="word/document.xml"/></Relationships>'
        ),
        "word/document.xml": f'{XML_DECLARATION}{prolog}<w:document xmlns:w="{W}"><w:body>{body}</w:body></w:document>',
    }
    if styles is not None:
        members["word/styles.xml"] = styles
    if title is not None:
        members["docProps/core.xml"] = (
            f'{XML_DECLARATION}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
            f'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{escape(title)}</dc:title>'
            "</cp:coreProperties>"
        )
    members.update(extra or {})
    return zip_of(members)


def with_zeros_member(office_file: bytes, member: str, size: int) -> bytes:
    """The file with one more member of `size` zero bytes, deflated while streaming so memory stays small."""
    buffer = io.BytesIO(office_file)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open(member, "w", force_zip64=True) as stream:
            chunk = bytes(MB)
            for _ in range(size // MB):
                stream.write(chunk)
            stream.write(bytes(size % MB))
    return buffer.getvalue()


# Excel ----------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Formula:
    """A formula cell with the value Excel cached for it when the file was last saved."""

    expression: str
    cached: float | str


def _x_cell(reference: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Formula):
        kind = ' t="str"' if isinstance(value.cached, str) else ""
        return f'<c r="{reference}"{kind}><f>{escape(value.expression)}</f><v>{escape(str(value.cached))}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{reference}"><v>{value}</v></c>'
    return f'<c r="{reference}" t="inlineStr"><is><t xml:space="preserve">{escape(str(value))}</t></is></c>'


def xlsx(rows: list[list[object]], *, sheet_prolog: str = "", second_sheet: list[list[object]] | None = None) -> bytes:
    """A workbook whose first sheet holds `rows` (strings, numbers, Formula or None); optionally a second sheet."""
    sheets = [rows] + ([second_sheet] if second_sheet is not None else [])
    spreadsheet = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    members: dict[str, bytes | str] = {
        "[Content_Types].xml": (
            f'{XML_DECLARATION}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            + "".join(f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/'
                      'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                      for n in range(1, len(sheets) + 1))
            + '<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'
        ),
        "_rels/.rels": (
            f'{XML_DECLARATION}<Relationships xmlns="{PACKAGE_RELATIONSHIPS}"><Relationship Id="rId1" '
            f'Type="{RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'{XML_DECLARATION}<workbook xmlns="{spreadsheet}" xmlns:r="{RELATIONSHIPS}"><sheets>'
            + "".join(f'<sheet name="Sheet{n}" sheetId="{n}" r:id="rId{n}"/>' for n in range(1, len(sheets) + 1))
            + "</sheets></workbook>"
        ),
        "xl/_rels/workbook.xml.rels": (
            f'{XML_DECLARATION}<Relationships xmlns="{PACKAGE_RELATIONSHIPS}">'
            + "".join(f'<Relationship Id="rId{n}" Type="{RELATIONSHIPS}/worksheet" Target="worksheets/sheet{n}.xml"/>'
                      for n in range(1, len(sheets) + 1))
            + f'<Relationship Id="rId99" Type="{RELATIONSHIPS}/styles" Target="styles.xml"/></Relationships>'
        ),
        "xl/styles.xml": (
            f'{XML_DECLARATION}<styleSheet xmlns="{spreadsheet}">'
            '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
        ),
    }
    for number, sheet in enumerate(sheets, start=1):
        xml_rows = "".join(
            f'<row r="{r}">' + "".join(_x_cell(f"{chr(65 + c)}{r}", value) for c, value in enumerate(row)) + "</row>"
            for r, row in enumerate(sheet, start=1)
        )
        members[f"xl/worksheets/sheet{number}.xml"] = (
            f'{XML_DECLARATION}{sheet_prolog if number == 1 else ""}<worksheet xmlns="{spreadsheet}">'
            f"<sheetData>{xml_rows}</sheetData></worksheet>"
        )
    return zip_of(members)
