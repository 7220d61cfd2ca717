"""Issue 17 in a real browser: Markdown and HTML in the data never become a link, an image or a
request (the tracking pixel), and hostile uploads leave the server answering."""
from __future__ import annotations

import urllib.request
from pathlib import Path

import hostile_files as H
from playwright.sync_api import Page, expect

from .helpers import assert_no_exception, goto, screenshot, wait_for_app

UPLOAD_INPUT = '[data-testid="stFileUploaderDropzoneInput"]'


def no_markup_from_data(page: Page) -> None:
    """No javascript: link, no image from the data, and the seeded text visible as typed."""
    expect(page.locator('a[href^="javascript:"]')).to_have_count(0)
    expect(page.locator('a[href*="127.0.0.1:9"]')).to_have_count(0)  # a bare URL linked by GFM
    expect(page.locator(f'img[src="{H.PIXEL}"]')).to_have_count(0)
    expect(page.locator('img[src="x"]')).to_have_count(0)
    expect(page.locator("strong", has_text="粗").filter(has_not_text="**")).to_have_count(0)


def test_the_profile_shows_markdown_as_text_and_fetches_no_pixel(streamlit_app_factory, page: Page,
                                                                 tmp_path_factory) -> None:
    db = tmp_path_factory.mktemp("markup-browser") / "crm.duckdb"
    ids = H.seed_markup_archive(db)
    app = streamlit_app_factory(db)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    goto(page, app.url, f"/customers?id={ids['customer']}")
    assert_no_exception(page)
    title = page.locator('[data-testid="stHeading"] h1').filter(has_text="粗")
    expect(title).to_have_count(1)  # the profile's title (waits for the page to finish drawing)
    # as typed (plain() puts an invisible word joiner, U+2060, after "http:" so GFM links nothing)
    assert H.PAYLOAD in title.inner_text().replace("\u2060", "")
    for tab in ("联系记录", "投诉处理", "跟进计划"):
        page.get_by_role("tab", name=tab).click()
        wait_for_app(page)
        no_markup_from_data(page)
    no_markup_from_data(page)
    screenshot(page, "markup-profile")
    goto(page, app.url, "/import")  # the history lists the Markdown file name
    expect(page.get_by_text("[点我](javascript:alert(1))", exact=False).first).to_be_visible()
    no_markup_from_data(page)
    goto(page, app.url, f"/complaints?id={ids['complaint']}")
    no_markup_from_data(page)
    page.wait_for_timeout(500)  # an image would be requested while the page renders
    assert not [u for u in requests if u.startswith("http://127.0.0.1:9")], requests


def test_hostile_uploads_leave_the_server_answering(streamlit_app, page: Page, tmp_path: Path) -> None:
    files = []
    for name, make, _expect in H.REFUSED:
        path = tmp_path / name
        path.write_bytes(make())
        files.append(path)
    goto(page, streamlit_app.url, "/import")
    page.locator(UPLOAD_INPUT).set_input_files([str(f) for f in files])
    wait_for_app(page, timeout=120_000)
    assert_no_exception(page)
    alerts = page.locator('[data-testid="stAlertContentError"]')
    for name, _make, expect_text in H.REFUSED:
        expect(alerts.filter(has_text=name).filter(has_text=expect_text)).to_have_count(1)
    with urllib.request.urlopen(streamlit_app.url + "/_stcore/health", timeout=10) as answer:
        assert answer.status == 200 and answer.read() == b"ok"
    screenshot(page, "hostile-uploads")
