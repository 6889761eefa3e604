"""Loaders: every supported type to text with its structure; refusals at add with 415."""

from __future__ import annotations

import codecs
import io
import json
import random
import zipfile
from dataclasses import FrozenInstanceError
from pathlib import Path

import docx
import pytest

from graphmill.config import Settings
from graphmill.errors import ContentMismatch, StepFailed
from graphmill.ingest import loaders
from graphmill.ingest.filetypes import FileType, detect
from graphmill.ingest.loaders import LoadedText, load, supported
from tests.support import Api, add_files
from tests.test_add_limits import assert_nothing_stored

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SENTENCE = "Ada Lovelace worked with Charles Babbage in London."
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# file, loader, lines that show the structure was kept
EXPECTED = [
    ("sample.txt", "text", ["The Analytical Engine\n\nAda Lovelace"]),
    ("sample.md", "markdown", ["# The Analytical Engine", "## Notes", "| Ada Lovelace |"]),
    (
        "sample.html",
        "html",
        [
            "# The Analytical Engine\n\nAda Lovelace",
            "## Notes",
            "- Note G describes how to compute Bernoulli numbers.\n- The notes were",
            "Person | Role\nAda Lovelace | Author of the notes\n",
            "Café culture & mathematics.",
        ],
    ),
    (
        "sample.pdf",
        "pdf",
        ["The Analytical Engine", "London.\n\nNote G describes how to compute Bernoulli"],
    ),
    (
        "sample.docx",
        "docx",
        [
            "# The Analytical Engine\n\n",
            "## Notes",
            "- Note G describes how to compute Bernoulli numbers.\n- The notes were",
            "\n\nPerson | Role\nAda Lovelace | Author\nCharles Babbage | Designer\n\n",
        ],
    ),
    (
        "sample.pptx",
        "pptx",
        [
            "Slide 1\n# The Analytical Engine\n",
            "Notes: Mention Note G.",
            "\n\nSlide 2\n# People\nPerson | Role\nAda Lovelace | Author",
        ],
    ),
    (
        "sample.xlsx",
        "xlsx",
        [
            "Sheet: People\nName | Role | Born | Notes published\n",
            "Ada Lovelace | Author | 1815 | 1943-12-10\n",
            "Share of notes |  | 0.75",
            "\n\nSheet: Notes\n",
        ],
    ),
    (
        "sample.csv",
        "csv",
        [
            "name | role | city | note\nAda Lovelace | Author of the notes, 1843 | London | Ada",
            "\nCharles Babbage | Designer of the engine | London",
        ],
    ),
    (
        "sample.json",
        "json",
        ["title: The Analytical Engine\n\n", "people[1].name: Charles Babbage", "journal: null"],
    ),
    ("sample.py", "code", ['def bernoulli(n: int) -> list[float]:\n    """The first n']),
    # Issue 9, defect 8: both were refused by add as "binary".
    (
        "sample_cp1252.csv",
        "csv",
        [
            "Ada Lovelace | Author of the \u201cnotes\u201d \u2013 1843 | London",
            "Zo\u00eb Caf\u00e9 | Cost \u20ac 12 | Malm\u00f6",
        ],
    ),
    (
        "sample_utf16.txt",
        "text",
        [
            "The Analytical Engine\n\nAda Lovelace",
            "Na\u00efve caf\u00e9 \u2014 \u201cNote G\u201d.",
        ],
    ),
]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load_fixture(name: str, mime_type: str = "") -> LoadedText:
    return load(fixture(name), name.rsplit(".", 1)[1], mime_type)


def failure(data: bytes, extension: str, mime_type: str = "") -> StepFailed:
    with pytest.raises(StepFailed) as caught:
        load(data, extension, mime_type)
    return caught.value


# --- each loader -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "loader", "markers"), EXPECTED)
def test_loader_keeps_text_and_structure(name: str, loader: str, markers: list[str]) -> None:
    loaded = load_fixture(name)
    assert loaded.loader == loader
    assert SENTENCE in loaded.text
    for marker in markers:
        assert marker in loaded.text, marker
    assert "\r" not in loaded.text
    assert loaded.text == loaded.text.strip("\n")
    if loader not in ("text", "markdown", "code"):  # those are kept verbatim
        assert "\n\n\n" not in loaded.text


def test_code_and_markdown_are_verbatim() -> None:
    for name in ("sample.py", "sample.md", "sample.txt"):
        assert load_fixture(name).text == fixture(name).decode().strip("\n"), name


def test_html_drops_script_style_and_head() -> None:
    text = load_fixture("sample.html").text
    for hidden in ("hiddenScriptMarker", "hidden-style-marker", "font-family", "Enable JavaScript"):
        assert hidden not in text
    assert text.count("The Analytical Engine") == 1  # the <title> repeats the <h1>


def test_html_title_is_kept_when_the_body_does_not_repeat_it() -> None:
    page = b"<html><head><title>Engine notes</title></head><body><p>Body text.</p></body></html>"
    assert load(page, "html", "text/html").text == "# Engine notes\n\nBody text."


def test_html_without_closing_tags_keeps_the_body() -> None:
    page = b"<html><head><title>T</title><meta charset=utf-8><body><p>One<p>Two<li>Three"
    assert load(page, "html", "").text == "# T\n\nOne\n\nTwo\n- Three"


def test_html_tables_with_omitted_end_tags_and_a_caption() -> None:
    page = b"<table><caption>Table <b>1</b></caption><tr><td>a<td>b<tr><td>c<td>d</table>after"
    assert load(page, "html", "").text == "Table 1\na | b\nc | d\n\nafter"


def test_html_nested_tables_line_breaks_and_preformatted_text() -> None:
    page = (
        b"<div>one<br>two</div>"
        b"<table><tr><td>outer<table><tr><td>in1</td><td>in2</td></tr></table></td>"
        b"<td>right</td></tr></table>"
        b"<pre>def f():\n    return 1\n</pre><p>after</p>"
    )
    text = load(page, "htm", "text/html").text
    assert "one\ntwo" in text
    assert "outer in1 | in2 | right" in text
    assert "def f():\n    return 1" in text
    assert text.endswith("\n\nafter")


def test_html_declared_charset_is_used_when_the_bytes_are_not_utf8() -> None:
    page = '<meta charset="iso-8859-7"><p>Λόγος</p>'.encode("iso-8859-7")
    assert load(page, "html", "text/html").text == "Λόγος"


def test_pdf_without_text_fails_with_no_extractable_text() -> None:
    error = failure(fixture("scanned.pdf"), "pdf", "application/pdf")
    assert error.error_class == "no_extractable_text"
    assert "OCR" in str(error)


def test_corrupt_pdf_is_unreadable() -> None:
    error = failure(b"%PDF-1.4\nthis is not a PDF body at all", "pdf", "application/pdf")
    assert error.error_class == "unreadable_document"


def test_corrupt_docx_is_unreadable() -> None:
    data = fixture("sample.docx")
    for corrupt in (data[: len(data) // 2], b"PK\x03\x04" + b"\x00" * 100):
        error = failure(corrupt, "docx", DOCX_MIME)
        assert error.error_class == "unreadable_document"
        assert error.__cause__ is not None


def test_a_zip_that_is_not_a_word_document_is_unreadable() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("hello.txt", SENTENCE)
    assert failure(out.getvalue(), "docx", DOCX_MIME).error_class == "unreadable_document"
    assert failure(out.getvalue(), "xlsx").error_class == "unreadable_document"
    assert failure(out.getvalue(), "pptx").error_class == "unreadable_document"


def test_a_package_that_unpacks_too_large_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loaders, "_MAX_UNPACKED_BYTES", 1000)
    error = failure(fixture("sample.docx"), "docx")
    assert error.error_class == "unreadable_document"
    assert "unpacks to" in str(error)


def test_empty_documents_fail_with_no_extractable_text() -> None:
    out = io.BytesIO()
    docx.Document().save(out)
    assert failure(out.getvalue(), "docx").error_class == "no_extractable_text"
    for blank, extension in ((b" \n\t\r\n ", "txt"), (b"<p> </p><script>x</script>", "html")):
        assert failure(blank, extension).error_class == "no_extractable_text", extension


def test_xlsx_leaves_out_empty_sheets_and_rows() -> None:
    text = load_fixture("sample.xlsx").text
    assert "Sheet: Empty" not in text
    assert "1791\n" in text  # no trailing " | " for the empty cell


def test_csv_other_delimiters_and_tsv() -> None:
    semicolons = b"name;city\nAda Lovelace;London\n"
    assert load(semicolons, "csv", "text/csv").text == "name | city\nAda Lovelace | London"
    tabs = b"name\tcity\nCharles Babbage\tLondon\n"
    assert load(tabs, "tsv", "").text == "name | city\nCharles Babbage | London"


def test_json_lines_and_invalid_json() -> None:
    lines = b'{"name": "Ada"}\n\n{"name": "Charles", "tags": []}\n'
    loaded = load(lines, "jsonl", "")
    assert loaded.text == "[0].name: Ada\n\n[1].name: Charles\n[1].tags: []"
    assert failure(b'{"name": ', "json").error_class == "unreadable_document"


def test_deeply_nested_json_does_not_exhaust_the_stack() -> None:
    deep = json.dumps({"a": [[[[[[[[["x"]]]]]]]]]}).encode()
    assert load(deep, "json", "").text == "a[0][0][0][0][0][0][0][0][0]: x"
    too_deep = b"[" * 100_000 + b"]" * 100_000
    assert failure(too_deep, "json").error_class == "unreadable_document"


# --- text decoding ---------------------------------------------------------------------------


def test_utf8_with_bom_and_crlf() -> None:
    data = codecs.BOM_UTF8 + "Zoë\r\nline two\r\n".encode()
    assert load(data, "txt", "text/plain").text == "Zoë\nline two"


def test_utf16_with_bom() -> None:
    assert load("naïve café".encode("utf-16"), "txt", "").text == "naïve café"


def test_cp1252_and_latin1_fallbacks() -> None:
    assert load(b"Caf\xe9 \x93quoted\x94 \x80", "txt", "").text == "Café “quoted” €"
    # 0x81 is undefined in cp1252: latin-1 takes every byte.
    assert load(b"odd \x81 byte \xe9", "md", "").text == "odd \x81 byte é"


def test_binary_bytes_under_a_text_name_are_unreadable() -> None:
    assert failure(b"\x00\x01\x02binary", "py").error_class == "unreadable_document"


@pytest.mark.parametrize(
    "data",
    [
        "plain ascii and caf\u00e9".encode(),
        codecs.BOM_UTF8 + "Zo\u00eb".encode(),
        "na\u00efve caf\u00e9".encode("utf-16"),
        codecs.BOM_UTF16_BE + "na\u00efve".encode("utf-16-be"),
        codecs.BOM_UTF32_LE + "na\u00efve".encode("utf-32-le"),
        codecs.BOM_UTF32_BE + "na\u00efve".encode("utf-32-be"),
        "Caf\u00e9 \u201cquoted\u201d \u20ac\r\n\tnext".encode("cp1252"),
        # A multi-byte character cut at the end of the sniffed head is still text.
        "caf\u00e9".encode()[:-1],
        "na\u00efve".encode("utf-16")[:-1],
    ],
)
def test_text_in_any_common_encoding_is_detected_as_text(data: bytes) -> None:
    assert detect("notes.txt", data).mime_type == "text/plain"
    assert detect("notes", data) == FileType("notes", "txt", "text/plain")


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01\x02\x03binary\xff\xfe",
        b"text with a NUL \x00 inside",
        b"\x01\x02\x03\x04\x05\x06 control bytes \xe9 are not text",
        random.Random(3).randbytes(4096),
        # A UTF-16 BOM followed by something that is no UTF-16 text.
        codecs.BOM_UTF16_LE + b"\x00\xd8\x00\xd8\x01\x00\x02\x00",
    ],
)
def test_binary_is_not_detected_as_text(data: bytes) -> None:
    with pytest.raises(ContentMismatch):
        detect("notes.txt", data)
    assert detect("notes", data).mime_type != "text/plain"


def test_loaded_text_is_frozen() -> None:
    loaded = load(b"text", "txt", "")
    with pytest.raises(FrozenInstanceError):
        loaded.text = "other"  # type: ignore[misc]
    assert isinstance(loaders.LOADER_VERSION, str) and loaders.LOADER_VERSION


# --- which types are supported ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("extension", "mime_type"),
    [
        ("txt", "text/plain"),
        ("pdf", "application/pdf"),
        ("ts", "video/mp2t"),  # the extension decides, whatever the host's MIME table says
        ("rs", ""),
        ("yml", ""),
        ("xlsx", "application/zip"),
        ("txt", "text/plain"),
        ("", "text/x-vcard"),
        ("", DOCX_MIME),
    ],
)
def test_supported(extension: str, mime_type: str) -> None:
    assert supported(extension, mime_type)


@pytest.mark.parametrize(
    ("extension", "mime_type"),
    [
        ("png", "image/png"),
        ("bin", "application/octet-stream"),
        ("exe", "application/x-msdownload"),
        ("zip", "application/zip"),
        ("doc", "application/msword"),
        ("rtf", "text/rtf"),
        ("svg", "image/svg+xml"),
    ],
)
def test_unsupported(extension: str, mime_type: str) -> None:
    assert not supported(extension, mime_type)
    assert failure(b"x", extension, mime_type).error_class == "unsupported_file_type"


# --- over HTTP -------------------------------------------------------------------------------

ALL_FIXTURES = [name for name, _, _ in EXPECTED] + ["scanned.pdf"]
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


def test_every_supported_fixture_is_accepted_by_add(alice: Api) -> None:
    r = add_files(alice, "ds_loaders", [(name, fixture(name)) for name in ALL_FIXTURES])
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["data_ingestion_info"]) == len(ALL_FIXTURES)
    items = alice.get(f"/api/v1/datasets/{body['dataset_id']}/data").json()
    assert sorted(f"{i['name']}.{i['extension']}" for i in items) == sorted(ALL_FIXTURES)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("photo.png", PNG),
        ("noise.bin", random.Random(7).randbytes(4000)),
        ("archive.zip", b"PK\x03\x04" + b"\x00" * 60),
        ("legacy.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 60),
    ],
)
def test_unsupported_type_is_415_and_stores_nothing(
    alice: Api, settings: Settings, name: str, content: bytes
) -> None:
    r = add_files(alice, "ds_refused", [("fine.txt", b"fine text"), (name, content)])
    assert r.status_code == 415, r.text
    body = r.json()
    assert body["detail"] is None
    assert name in body["error"]
    assert "no loader reads" in body["error"]
    assert "PDF, DOCX, PPTX" in body["error"]
    assert_nothing_stored(alice, settings)
