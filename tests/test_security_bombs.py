"""Decompression bombs and parser loops: every zip-based format the loaders read (DOCX, PPTX,
XLSX; plain .zip is not read at all) and PDF. Each is read with bounded time and memory in a
child process, fails alone with an explained error, and the run goes on."""

from __future__ import annotations

import asyncio
import io
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from graphmill.errors import StepFailed
from graphmill.ingest import sandbox
from tests.conftest import LiveServer
from tests.support import Api, add_files, sign_up

FIXTURES = Path(__file__).parent / "fixtures"
MEMORY_MB = 256
BIG = 300 * 1024 * 1024  # unpacks to more than MEMORY_MB, under the 512 MiB package check


def pdf_with_content(content: bytes) -> bytes:
    """A one-page PDF whose content stream is `content`, deflated."""
    stream = zlib.compress(content, 6)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def package_with(fixture: str, part: str, chunks: Callable[[], Iterator[bytes]]) -> bytes:
    """The fixture package with `part` replaced by the streamed `chunks`."""
    source = zipfile.ZipFile(FIXTURES / fixture)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as package:
        for info in source.infolist():
            if info.filename != part:
                package.writestr(info, source.read(info))
                continue
            with package.open(part, "w", force_zip64=True) as member:
                for chunk in chunks():
                    member.write(chunk)
    return out.getvalue()


def huge_text(head: bytes, tail: bytes) -> Callable[[], Iterator[bytes]]:
    """An XML part whose one text node is BIG bytes long."""

    def chunks() -> Iterator[bytes]:
        yield head
        block = b"a" * (1024 * 1024)
        for _ in range(BIG // len(block)):
            yield block
        yield tail

    return chunks


W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
DOCX_BOMB = ("sample.docx", "word/document.xml", huge_text(
    b'<?xml version="1.0" encoding="UTF-8"?><w:document ' + W + b"><w:body><w:p><w:r><w:t>",
    b"</w:t></w:r></w:p></w:body></w:document>",
))  # fmt: skip
P = (
    b'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
    b'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"'
)
PPTX_BOMB = ("sample.pptx", "ppt/slides/slide1.xml", huge_text(
    b'<?xml version="1.0" encoding="UTF-8"?><p:sld ' + P + b"><p:cSld><p:spTree><p:sp>"
    b"<p:nvSpPr><p:cNvPr id=\"2\" name=\"t\"/><p:cNvSpPr/><p:nvPr/></p:nvSpPr><p:spPr/>"
    b"<p:txBody><a:bodyPr/><a:p><a:r><a:t>",
    b"</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>",
))  # fmt: skip
XLSX_BOMB = ("sample.xlsx", "xl/worksheets/sheet1.xml", huge_text(
    b'<?xml version="1.0" encoding="UTF-8"?><worksheet '
    b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    b'<row r="1"><c r="A1" t="inlineStr"><is><t>',
    b"</t></is></c></row></sheetData></worksheet>",
))  # fmt: skip


def load(data: bytes, extension: str, timeout: float = 60, memory_mb: int = MEMORY_MB) -> str:
    loaded = asyncio.run(
        sandbox.load_bounded(data, extension, "application/octet-stream", timeout, memory_mb)
    )
    return loaded.text


def refused(data: bytes, extension: str, timeout: float = 60, memory_mb: int = MEMORY_MB) -> str:
    with pytest.raises(StepFailed) as failed:
        load(data, extension, timeout, memory_mb)
    assert failed.value.error_class == "unreadable_document"
    return str(failed.value)


@pytest.mark.parametrize("bomb", [DOCX_BOMB, PPTX_BOMB, XLSX_BOMB], ids=["docx", "pptx", "xlsx"])
def test_an_office_bomb_fails_on_its_memory_bound(bomb: tuple[str, str, Any]) -> None:
    fixture, part, chunks = bomb
    data = package_with(fixture, part, chunks)
    assert len(data) < 2 * 1024 * 1024  # a small upload
    message = refused(data, fixture.rsplit(".", 1)[1])
    assert f"needs more than {MEMORY_MB} MiB (GRAPHMILL_LOADER_MEMORY_MB)" in message
    # The same format still reads within the same bounds.
    assert load((FIXTURES / fixture).read_bytes(), fixture.rsplit(".", 1)[1]).strip()


def test_a_pdf_deflate_bomb_is_refused() -> None:
    data = pdf_with_content(b"\0" * (100 * 1024 * 1024))
    assert len(data) < 1024 * 1024
    message = refused(data, "pdf")
    # pypdf's own decompression limit, or the memory bound, whichever comes first.
    assert "LimitReachedError" in message or "GRAPHMILL_LOADER_MEMORY_MB" in message


def loop_pdf() -> bytes:
    """Millions of text operators: pypdf would spin on it for minutes."""
    return pdf_with_content(b"BT /F1 1 Tf 0 0 Td (a) Tj ET\n" * 2_000_000)


def test_a_pdf_that_loops_its_parser_is_stopped_at_the_deadline() -> None:
    # Memory ample: only the deadline can stop it (the parser's memory grows as it spins).
    message = refused(loop_pdf(), "pdf", timeout=2, memory_mb=8192)
    assert "took longer than 2 s (GRAPHMILL_LOADER_TIMEOUT_SECONDS)" in message


def test_a_bomb_fails_its_item_alone_and_the_run_goes_on(settings_factory: Any) -> None:
    settings = settings_factory(loader_memory_mb=MEMORY_MB, loader_timeout_seconds=5)
    files = [
        ("notes.txt", b"Marta Lindqvist founded Velden Optics in Corvin."),
        ("sample.pdf", (FIXTURES / "sample.pdf").read_bytes()),
        ("bomb.docx", package_with(*DOCX_BOMB)),
        ("loop.pdf", loop_pdf()),
    ]
    with LiveServer(settings) as live:
        api: Api = sign_up(live.base_url)
        added = add_files(api, "bombs", files)
        assert added.status_code == 200, added.text
        dataset_id = added.json()["dataset_id"]
        r = api.post("/api/v1/cognify", json={"datasetIds": [dataset_id]})
        assert r.status_code == 200, r.text
        assert r.json()[dataset_id]["status"] == "PipelineRunErrored"
        items = api.get(f"/api/v1/datasets/{dataset_id}/data").json()
        states = {i["originalName"]: i["pipelineStatus"]["cognify_pipeline"] for i in items}
        assert states["notes.txt"]["state"] == "completed"
        assert states["sample.pdf"]["state"] == "completed"
        # The looping PDF's parser also grows in memory: whichever bound it meets first
        # stops it (the deadline alone is tested above).
        for name, settings_named in (
            ("bomb.docx", ("GRAPHMILL_LOADER_MEMORY_MB",)),
            ("loop.pdf", ("GRAPHMILL_LOADER_TIMEOUT_SECONDS", "GRAPHMILL_LOADER_MEMORY_MB")),
        ):
            assert states[name]["state"] == "failed"
            assert states[name]["errorClass"] == "unreadable_document"
            assert any(s in states[name]["errorMessage"] for s in settings_named)
        run = api.get(f"/api/v1/datasets/{dataset_id}/runs").json()[0]
        assert run["state"] == "completed_with_errors"
        assert run["counts"] == {"total": 4, "completed": 2, "failed": 2, "skipped": 0}
        hits = api.post("/api/v1/search", json={"query": "Velden Optics", "searchType": "CHUNKS"})
        assert hits.status_code == 200
        api.close()


def test_a_child_of_a_large_process_still_reports_the_real_error() -> None:
    # Linux hands a parent's peak RSS on to its children across exec: that must not pass
    # for the child running out of memory (it made every failing PDF a "bomb" in workers).
    ballast = b"x" * (MEMORY_MB * 1024 * 1024)
    try:
        with pytest.raises(StepFailed) as failed:
            load((FIXTURES / "scanned.pdf").read_bytes(), "pdf")
    finally:
        del ballast
    assert failed.value.error_class == "no_extractable_text"
