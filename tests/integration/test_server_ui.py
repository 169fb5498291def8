"""The web page (/ui) and the API docs (/docs) in a real headless browser: Debian's chromium
driven by Playwright (never a browser Playwright downloads). Every request the pages make is
checked to stay on the server: nothing comes from a CDN."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

import vecnest
from tests.conftest import REPO
from tests.integration.server_proc import ServerProcess

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"chromium not found at {CHROMIUM}; make test installs it (apt-get install chromium)")
    root = tmp_path_factory.mktemp("ui")
    reports = root / "reports"
    with ServerProcess(root / "store", ["--datasets", str(REPO / "tests" / "data"), "--reports", str(reports)]) as proc:
        with vecnest.Client(proc.url) as client:
            _load(client)
        yield proc


def _load(client: vecnest.Client) -> None:
    if True:
        col = client.create_collection("tiny", "default", indexed_fields=["year"])
        import json

        docs = [json.loads(line) for line in (REPO / "tests/data/tiny-beir/corpus.jsonl").read_text().splitlines() if line.strip()]
        col.add([d["_id"] for d in docs], [f"{d.get('title', '')} {d['text']}".strip() for d in docs],
                [{"year": 2020 + i} for i in range(len(docs))])
        report = client.evaluate("tiny", "tiny-beir", ["ndcg@10"], k=5)  # saved under --reports, with its plots
        assert 0 <= report.quality["ndcg@10"] <= 1


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _page(browser: object, server: ServerProcess, outside: list[str]) -> object:
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    host = urlparse(server.url).netloc

    def route(r: object) -> None:
        url = r.request.url  # type: ignore[attr-defined]
        if urlparse(url).netloc != host and not url.startswith(("data:", "blob:")):
            outside.append(url)
            r.abort()  # type: ignore[attr-defined]
        else:
            r.continue_()  # type: ignore[attr-defined]

    page.route("**/*", route)
    return page


def test_search_page_renders_results_plan_stats_and_reports(browser: object, server: ServerProcess, tmp_path: Path) -> None:
    from PIL import Image

    outside: list[str] = []
    page = _page(browser, server, outside)
    page.goto(server.url + "/ui/")
    page.wait_for_selector("#collection option[value='tiny']", state="attached")
    page.fill("#query", "a query about the first document")
    page.fill("#where", '{"year": {"$gte": 2021}}')
    page.press("#query", "Enter")
    page.wait_for_selector("#results tbody tr.hit")
    rows = page.locator("#results tbody tr.hit")
    n = rows.count()
    assert 1 <= n <= 10
    scores = [float(rows.nth(i).locator("td.score").inner_text().strip()) for i in range(n)]
    assert scores == sorted(scores, reverse=True)
    assert "2020" not in page.locator("#results tbody").inner_text()  # the filter applied
    assert '"strategy"' in page.inner_text("#plan")
    page.wait_for_selector("#stats dd")
    assert "tiny" in page.inner_text("#stats") and "all-MiniLM-L6-v2" in page.inner_text("#stats")
    page.wait_for_selector(".report img")
    assert page.evaluate("document.querySelector('.report img').naturalWidth") > 100  # the plot loaded
    assert "ndcg@10" in page.inner_text("#reports")
    shot = page.screenshot(full_page=True)
    (tmp_path / "ui.png").write_bytes(shot)
    img = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=np.float32)
    assert img.std() > 20 and len(np.unique(img)) > 50, "the screenshot is blank"
    page.fill("#where", "{not json")
    page.press("#query", "Enter")
    page.wait_for_selector("#status.error")
    assert "not valid JSON" in page.inner_text("#status")
    assert outside == []
    page.close()


def test_api_docs_render_offline(browser: object, server: ServerProcess) -> None:
    outside: list[str] = []
    page = _page(browser, server, outside)
    page.goto(server.url + "/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/v1/collections/{name}/search" in p.replace("\u200b", "") for p in paths)
    assert outside == [], f"the docs page tried to load {outside}"
    page.close()
