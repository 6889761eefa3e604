"""The web app at /ui, driven end to end in headless Chromium (Debian's, through Playwright)
against a real server: sign up, drop a file, watch it complete, open the graph, search,
download the raw file. Screenshots go to `.artifacts/webapp/`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import LiveServer
from tests.support import Api, add_files

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / ".artifacts" / "webapp"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOC = b"Marta Lindqvist founded Velden Optics in Corvin in 1903. Velden Optics makes lenses.\n"
# The browser tests prove the app's side of the API, which is the same on every backend pair
# (the API tests run on both): they run on the embedded default only.
embedded_only = pytest.mark.parametrize("backend", ["sqlite-local"], indirect=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@embedded_only
def test_the_app_is_served_without_node(server: LiveServer) -> None:
    index = httpx.get(f"{server.base_url}/ui/")
    assert index.status_code == 200 and "<title>graphmill</title>" in index.text
    script = re.search(r'src="(/ui/assets/[^"]+\.js)"', index.text)
    assert script and httpx.get(f"{server.base_url}{script.group(1)}").status_code == 200


@embedded_only
def test_sign_up_upload_cognify_graph_search_download(
    server: LiveServer, page: Page, tmp_path: Path
) -> None:
    page.goto(f"{server.base_url}/ui/#/login")
    page.fill("input[name=email]", "web@example.com")
    page.fill("input[name=password]", "correct horse")
    page.click("#signup")
    expect(page.get_by_role("heading", name="Datasets")).to_be_visible()

    page.fill("#new-dataset", "web")
    page.click("text=Create dataset")
    page.click("tr[data-dataset=web] a")
    expect(page.locator("#drop")).to_be_visible()

    # A real drop event, with the file in its DataTransfer.
    transfer = page.evaluate_handle(
        """(text) => { const dt = new DataTransfer();
            dt.items.add(new File([text], 'velden.txt', {type: 'text/plain'})); return dt; }""",
        DOC.decode(),
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
    expect(page.locator("tr[data-item='velden.txt']")).to_be_visible()

    page.click("#cognify")
    completed = page.locator("#run-status [data-state=completed]")
    expect(completed).to_be_visible(timeout=120_000)  # pushed by the event stream
    expect(page.locator("#run-counts")).to_contain_text("1/1 · 0 failed")
    expect(page.locator("tr[data-item='velden.txt'] [data-state=completed]")).to_have_count(2)
    shot(page, "dataset")

    with page.expect_download() as download:
        page.click("tr[data-item='velden.txt'] a.raw")
    saved = tmp_path / "velden.txt"
    download.value.save_as(saved)
    assert saved.read_bytes() == DOC

    page.click("#open-graph")
    page.wait_for_function("() => window.graphmillGraph && window.graphmillGraph.nodes().length")
    legend = page.locator("#graph-legend .legend-item")
    expect(legend.first).to_be_visible()
    graph_types = page.evaluate(
        "() => [...new Set(window.graphmillGraph.nodes().map((n) => n.data('type')))].sort()"
    )
    assert sorted(legend.evaluate_all("(items) => items.map((i) => i.dataset.type)")) == graph_types
    shot(page, "graph-overview")
    first_type = graph_types[0]
    page.click(f"#graph-legend .legend-item[data-type='{first_type}']")
    shown = page.evaluate(
        "() => window.graphmillGraph.nodes().filter((n) => !n.hasClass('dim'))"
        ".map((n) => n.data('type'))"
    )
    assert shown and set(shown) == {first_type}
    page.click(f"#graph-legend .legend-item[data-type='{first_type}']")  # again: all types
    assert page.evaluate("() => window.graphmillGraph.nodes('.dim').length") == 0
    page.fill("#find-node", "Marta Lindqvist")
    expect(page.locator("#node-panel h3")).to_have_text("Marta Lindqvist")
    expect(page.locator("#node-sources a")).to_have_text("velden.txt")
    shot(page, "graph-node")

    page.click("text=Search")
    page.fill("#query", "Who founded Velden Optics?")
    page.select_option("#search-type", "CHUNKS")
    page.click("button[type=submit]")
    expect(page.locator("#results .source").first).to_have_text("velden.txt")
    expect(page.locator("#results")).to_contain_text("Marta Lindqvist founded Velden Optics")
    shot(page, "search")


@embedded_only
def test_wrong_password_says_so(server: LiveServer, page: Page) -> None:
    page.goto(f"{server.base_url}/ui/")
    expect(page).to_have_url(re.compile(r"#/login$"))
    page.fill("input[name=email]", "nobody@example.com")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    expect(page.locator(".login .error")).to_have_text("Wrong email or password.")


def test_node_sources_name_the_supporting_files_to_readers_only(alice: Api, bob: Api) -> None:
    ds = add_files(alice, "sources", [("velden.txt", DOC), ("other.txt", b"Oslo harbour.\n")])
    dataset_id = ds.json()["dataset_id"]
    assert alice.post("/api/v1/cognify", json={"datasetIds": [dataset_id]}).status_code == 200
    graph = alice.get(f"/api/v1/datasets/{dataset_id}/graph").json()
    [marta] = [n for n in graph["nodes"] if n["label"] == "Marta Lindqvist"]
    path = f"/api/v1/datasets/{dataset_id}/graph/nodes/{marta['id']}/sources"
    [source] = alice.get(path).json()
    assert source["name"] == "velden.txt" and source["mentions"] >= 1
    assert alice.get(source["raw_url"]).content == DOC
    assert bob.get(path).status_code == 404  # not readable: the same answer as missing
    missing = alice.get(f"/api/v1/datasets/{dataset_id}/graph/nodes/{dataset_id}/sources")
    assert missing.json() == []
