"""Loaders: uploaded bytes to text, keeping the structure a chunker can use.

Blocks (paragraphs, tables, slides, sheets) are separated by blank lines; headings are
Markdown `#` lines; table rows are one line each with cells joined by " | ".
A document that yields no text fails with `no_extractable_text`, one a library cannot
parse with `unreadable_document`; `load` never returns empty text.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from graphmill.errors import StepFailed

# Bump when any loader's output changes, so stored text can be recomputed.
LOADER_VERSION = "1"

SUPPORTED_TYPES = (
    "plain text (.txt, .log, .rst and other text/* files), Markdown, HTML, PDF, DOCX, PPTX, "
    "XLSX, CSV/TSV, JSON/JSONL and source code (.py, .js, .ts, .java, .go, .rs, .c, .cpp, "
    ".rb, .php, .cs, .sql, .sh, .yaml, .toml, ...)"
)

# Zip bombs: python-docx and python-pptx read every part into memory. Sizes checked are
# the declared ones, so this stops the plain bombs, not a file that lies about its sizes.
_MAX_UNPACKED_BYTES = 512 * 1024**2
_SNIFF_BYTES = 64 * 1024
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True)
class LoadedText:
    text: str
    loader: str


# --- text decoding -------------------------------------------------------------------------


def decode_text(data: bytes, declared: str | None = None) -> str:
    """Bytes as text: a BOM wins, then UTF-8, then the declared charset, then cp1252, latin-1."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise StepFailed("unreadable_document", "the file is binary, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for fallback in (declared, "cp1252"):
        if fallback is None:
            continue
        try:
            return data.decode(fallback)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1")  # every byte is a latin-1 character: this cannot fail


def _tidy(text: str, verbatim: bool = False) -> str:
    """Unix newlines, no NULs (PostgreSQL text refuses them), no lone surrogates.

    Unless verbatim: trailing spaces removed and runs of blank lines cut to one.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    if verbatim:
        return text.strip("\n")
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def _one_line(value: str) -> str:
    return " ".join(value.split())


@contextmanager
def _reading(kind: str) -> Iterator[None]:
    # Parsers fed hostile or corrupt bytes raise nearly anything (KeyError, struct.error,
    # their own errors); whatever they raise, the document cannot be read.
    try:
        yield
    except StepFailed:
        raise
    except Exception as exc:
        raise StepFailed(
            "unreadable_document", f"the {kind} file cannot be read: {type(exc).__name__}: {exc}"
        ) from exc


def _check_package(data: bytes, kind: str) -> None:
    with _reading(kind), zipfile.ZipFile(io.BytesIO(data)) as package:
        unpacked = sum(info.file_size for info in package.infolist())
    if unpacked > _MAX_UNPACKED_BYTES:
        raise StepFailed(
            "unreadable_document",
            f"the {kind} file unpacks to {unpacked} bytes, over {_MAX_UNPACKED_BYTES}",
        )


# --- plain text, Markdown, code --------------------------------------------------------------


def _load_text(data: bytes) -> str:
    return _tidy(decode_text(data), verbatim=True)


# --- HTML ------------------------------------------------------------------------------------

_HTML_SKIP = {"script", "style", "noscript", "template", "svg", "iframe", "object"}
_HTML_BLOCKS = {
    "address", "article", "aside", "blockquote", "body", "dd", "details", "dialog", "div", "dl",
    "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "main", "nav",
    "ol", "p", "pre", "section", "summary", "table", "ul",
}  # fmt: skip
_HTML_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)


@dataclass
class _Table:
    lines: list[str] = field(default_factory=list)
    row: list[list[str]] | None = None
    loose: list[str] = field(default_factory=list)  # text outside cells, e.g. a caption

    def end_row(self) -> None:
        caption = _one_line("".join(self.loose))
        if caption:
            self.lines.append(caption)
        self.loose = []
        if self.row is not None:
            row = _table_rows([["".join(cell) for cell in self.row]])
            if row:
                self.lines.append(row)
            self.row = None


class _HtmlText(HTMLParser):
    """Text of an HTML page; closing tags HTML lets one omit (</p>, </li>, </tr>) may be missing."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.title = ""
        self._line: list[str] = []
        self._prefix = ""
        self._skip = 0
        self._pre = 0
        self._in_title = False
        self._tables: list[_Table] = []  # a stack: tables nest in cells

    def _flush(self, blank: bool = False) -> None:
        raw = "".join(self._line)
        text = raw.rstrip() if self._pre else _one_line(raw)
        if text:
            self.lines.append(self._prefix + text)
            self._prefix = ""
        self._line = []
        if blank and self.lines and self.lines[-1] != "":
            self.lines.append("")

    def _text(self, data: str) -> None:
        if not self._tables:
            self._line.append(data)
        elif self._tables[-1].row:
            self._tables[-1].row[-1].append(data)
        else:
            self._tables[-1].loose.append(data)

    def _end_table(self) -> None:
        table = self._tables.pop()
        table.end_row()
        if self._tables:
            self._text(" " + " ".join(table.lines) + " ")  # a table in a cell: that cell's text
        else:
            self._flush(blank=True)
            self.lines += [*table.lines, ""]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in _HTML_SKIP:
            self._skip += 1
        if self._skip:
            return
        if tag == "table":
            self._tables.append(_Table())
        elif tag == "tr":
            if not self._tables:
                self._tables.append(_Table())
            self._tables[-1].end_row()
            self._tables[-1].row = []
        elif tag in ("td", "th") and self._tables:
            table = self._tables[-1]
            if table.row is None:
                table.end_row()
                table.row = []
            table.row.append([])
        elif self._tables:
            self._text(" ")  # inside a table, other tags only separate words
        elif tag == "br":
            self._flush()
        elif tag == "li":
            self._flush()
            self._prefix = "- "
        elif tag in _HTML_HEADINGS:
            self._flush(blank=True)
            self._prefix = "#" * _HTML_HEADINGS[tag] + " "
        elif tag in _HTML_BLOCKS:
            self._flush(blank=True)
        if tag == "pre":
            self._pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_SKIP:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _HTML_SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if self._skip:
            return
        if tag == "table" and self._tables:
            self._end_table()
        elif tag == "tr" and self._tables:
            self._tables[-1].end_row()
        elif self._tables:
            self._text(" ")
        elif tag in _HTML_HEADINGS:
            self._flush(blank=True)
        elif tag == "li":
            self._flush()
        elif tag in _HTML_BLOCKS:
            self._flush(blank=True)
        if tag == "pre":
            self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if self._skip:
            return
        if self._pre and not self._tables:
            first, *rest = data.split("\n")
            self._line.append(first)
            for line in rest:
                self._flush()
                self._line.append(line)
        else:
            self._text(data)

    def close(self) -> None:
        super().close()
        while self._tables:
            self._end_table()
        self._flush()


def _load_html(data: bytes) -> str:
    declared = _META_CHARSET.search(data[:_SNIFF_BYTES])
    text = decode_text(data, declared.group(1).decode("ascii") if declared else None)
    parser = _HtmlText()
    with _reading("HTML"):
        parser.feed(text)
        parser.close()
    lines = parser.lines
    title = _one_line(parser.title)
    if title and title not in (line.lstrip("#").strip() for line in lines):
        lines = [f"# {title}", "", *lines]
    return _tidy("\n".join(lines))


# --- PDF -------------------------------------------------------------------------------------


def _load_pdf(data: bytes) -> str:
    from pypdf import PdfReader

    with _reading("PDF"):
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise StepFailed("unreadable_document", "the PDF is encrypted with a password")
        pages = [page.extract_text() or "" for page in reader.pages]
    text = _tidy("\n\n".join(p.strip() for p in pages))
    if not text.strip():
        raise StepFailed(
            "no_extractable_text",
            f"the PDF's {len(pages)} page(s) hold no extractable text "
            "(a scan or images only; OCR is not supported)",
        )
    return text


# --- DOCX ------------------------------------------------------------------------------------


def _docx_prefix(style_name: str) -> str:
    if style_name == "Title":
        return "# "
    heading = re.fullmatch(r"Heading (\d)", style_name)
    if heading:
        return "#" * min(int(heading.group(1)), 6) + " "
    if style_name.startswith("List"):
        return "- "
    return ""


def _table_rows(rows: list[list[str]]) -> str:
    lines = []
    for cells in rows:
        texts = [_one_line(c) for c in cells]
        while texts and not texts[-1]:
            texts.pop()
        if texts:
            lines.append(" | ".join(texts))
    return "\n".join(lines)


def _load_docx(data: bytes) -> str:
    import docx
    from docx.table import Table

    _check_package(data, "DOCX")
    blocks: list[str] = []
    with _reading("DOCX"):
        document = docx.Document(io.BytesIO(data))
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                rows = []
                for row in block.rows:
                    seen: set[int] = set()
                    cells = []
                    for cell in row.cells:
                        if id(cell._tc) not in seen:  # a merged cell repeats itself
                            seen.add(id(cell._tc))
                            cells.append(cell.text)
                    rows.append(cells)
                blocks.append(_table_rows(rows))
            elif block.text.strip():
                style = block.style.name if block.style is not None else ""
                line = _docx_prefix(style or "") + block.text.strip()
                if line.startswith("- ") and blocks and blocks[-1].startswith("- "):
                    blocks[-1] += "\n" + line  # a list stays one block
                else:
                    blocks.append(line)
    text = _tidy("\n\n".join(blocks))
    if not text:
        raise StepFailed("no_extractable_text", "the DOCX document holds no text")
    return text


# --- PPTX ------------------------------------------------------------------------------------


def _slide_lines(shapes: Any, title_id: int | None) -> Iterator[str]:
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    for shape in shapes:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _slide_lines(shape.shapes, title_id)
        elif shape.has_text_frame and shape.shape_id != title_id:
            for paragraph in shape.text_frame.paragraphs:
                if paragraph.text.strip():
                    yield paragraph.text.strip()
        elif getattr(shape, "has_table", False) and shape.has_table:
            yield _table_rows([[c.text for c in row.cells] for row in shape.table.rows])


def _load_pptx(data: bytes) -> str:
    import pptx

    _check_package(data, "PPTX")
    blocks: list[str] = []
    with _reading("PPTX"):
        presentation = pptx.Presentation(io.BytesIO(data))
        for number, slide in enumerate(presentation.slides, start=1):
            title = slide.shapes.title
            lines = []
            if title is not None and title.has_text_frame and title.text_frame.text.strip():
                lines.append("# " + _one_line(title.text_frame.text))
            lines += _slide_lines(slide.shapes, title.shape_id if title is not None else None)
            if slide.has_notes_slide:
                notes = slide.notes_slide.notes_text_frame
                if notes is not None and notes.text.strip():
                    lines.append("Notes: " + notes.text.strip())
            if lines:
                blocks.append(f"Slide {number}\n" + "\n".join(lines))
    text = _tidy("\n\n".join(blocks))
    if not text:
        raise StepFailed("no_extractable_text", "the PPTX presentation holds no text")
    return text


# --- XLSX ------------------------------------------------------------------------------------


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return _one_line(str(value))


def _load_xlsx(data: bytes) -> str:
    import openpyxl

    _check_package(data, "XLSX")
    blocks: list[str] = []
    with _reading("XLSX"):
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            for sheet in workbook.worksheets:
                # Some writers declare wrong dimensions; read the rows that are there.
                sheet.reset_dimensions()
                rows = _table_rows(
                    [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
                )
                if rows:
                    blocks.append(f"Sheet: {sheet.title}\n{rows}")
        finally:
            workbook.close()
    text = _tidy("\n\n".join(blocks))
    if not text:
        raise StepFailed("no_extractable_text", "the XLSX workbook holds no values")
    return text


# --- CSV -------------------------------------------------------------------------------------


def _load_csv(data: bytes, tabs: bool) -> str:
    text = decode_text(data)
    delimiter = "\t"
    if not tabs:
        try:
            delimiter = csv.Sniffer().sniff(text[:_SNIFF_BYTES], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    with _reading("CSV"):
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return _tidy(_table_rows(rows))


# --- JSON ------------------------------------------------------------------------------------


def _json_lines(value: Any, path: str) -> Iterator[str]:
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:  # iterative: deep nesting must not exhaust the Python stack
        at, item = stack.pop()
        children: list[tuple[str, Any]] = []
        if isinstance(item, dict) and item:
            children = [(f"{at}.{k}" if at else str(k), v) for k, v in item.items()]
        elif isinstance(item, list) and item:
            children = [(f"{at}[{i}]", v) for i, v in enumerate(item)]
        elif isinstance(item, str):
            yield f"{at}: {item}" if at else item
        else:
            scalar = json.dumps(item, ensure_ascii=False)
            yield f"{at}: {scalar}" if at else scalar
        stack.extend(reversed(children))


def _load_json(data: bytes, lines: bool) -> str:
    text = decode_text(data)
    with _reading("JSON"):
        if lines:
            values = [json.loads(line) for line in text.splitlines() if line.strip()]
            blocks = ["\n".join(_json_lines(v, f"[{i}]")) for i, v in enumerate(values)]
        else:
            value = json.loads(text)
            # One block per top-level entry, so a chunker splits between records.
            if isinstance(value, dict) and value:
                entries = [(str(k), v) for k, v in value.items()]
            elif isinstance(value, list) and value:
                entries = [(f"[{i}]", v) for i, v in enumerate(value)]
            else:
                entries = [("", value)]
            blocks = ["\n".join(_json_lines(v, path)) for path, v in entries]
    return _tidy("\n\n".join(blocks))


# --- dispatch --------------------------------------------------------------------------------

_CODE = [
    "py", "pyi", "pyx", "js", "mjs", "cjs", "jsx", "ts", "tsx", "java", "go", "rs", "c", "cc",
    "cpp", "cxx", "h", "hh", "hpp", "hxx", "rb", "php", "cs", "kt", "kts", "swift", "scala", "sc",
    "sh", "bash", "zsh", "fish", "ps1", "bat", "sql", "yaml", "yml", "toml", "ini", "cfg", "conf",
    "properties", "env", "css", "scss", "sass", "less", "xml", "xsl", "vue", "svelte", "r", "lua",
    "pl", "pm", "dart", "ex", "exs", "erl", "hrl", "hs", "ml", "mli", "clj", "cljs", "groovy",
    "gradle", "tf", "hcl", "proto", "graphql", "gql", "tex", "el", "vim", "nim", "zig", "jl", "f90",
    "asm", "s", "m", "mm",
]  # fmt: skip
_BY_EXTENSION = {
    **dict.fromkeys(_CODE, "code"),
    **dict.fromkeys(["txt", "text", "log", "rst", "adoc", "org"], "text"),
    **dict.fromkeys(["md", "markdown", "mdx"], "markdown"),
    **dict.fromkeys(["html", "htm", "xhtml"], "html"),
    "pdf": "pdf",
    "docx": "docx",
    "pptx": "pptx",
    "xlsx": "xlsx",
    "xlsm": "xlsx",
    "csv": "csv",
    "tsv": "tsv",
    "json": "json",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
}
_BY_MIME = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/csv": "csv",
    "text/tab-separated-values": "tsv",
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/javascript": "code",
    "application/x-sh": "code",
    "application/xml": "code",
    "application/x-tex": "code",
}
# text/* that is markup for another program, not text to read.
_NOT_TEXT = {"text/rtf", "text/richtext"}

_LOADERS: dict[str, Callable[[bytes], str]] = {
    "text": _load_text,
    "markdown": _load_text,
    "code": _load_text,
    "html": _load_html,
    "pdf": _load_pdf,
    "docx": _load_docx,
    "pptx": _load_pptx,
    "xlsx": _load_xlsx,
    "csv": lambda data: _load_csv(data, tabs=False),
    "tsv": lambda data: _load_csv(data, tabs=True),
    "json": lambda data: _load_json(data, lines=False),
    "jsonl": lambda data: _load_json(data, lines=True),
}


def _loader_name(extension: str, mime_type: str) -> str | None:
    # The extension first: the MIME table of the host names .ts as video and .rs as XML.
    name = _BY_EXTENSION.get(extension.lower().lstrip("."))
    if name is None:
        mime = mime_type.split(";")[0].strip().lower()
        name = _BY_MIME.get(mime)
        if name is None and mime.startswith("text/") and mime not in _NOT_TEXT:
            name = "text"
    return name


def supported(extension: str, mime_type: str) -> bool:
    """Whether a loader reads files of this extension (without the dot) or MIME type."""
    return _loader_name(extension, mime_type) is not None


def loader_for(extension: str, mime_type: str) -> str:
    """The name of the loader `load` runs for this type; StepFailed unsupported_file_type."""
    name = _loader_name(extension, mime_type)
    if name is None:
        raise StepFailed(
            "unsupported_file_type", f"no loader reads .{extension} files ({mime_type})"
        )
    return name


def load(data: bytes, extension: str, mime_type: str) -> LoadedText:
    """The file's text; StepFailed no_extractable_text, unreadable_document or unsupported."""
    name = loader_for(extension, mime_type)
    text = _LOADERS[name](data)
    if not text.strip():
        raise StepFailed("no_extractable_text", f"the {name} file holds no text")
    return LoadedText(text, name)
