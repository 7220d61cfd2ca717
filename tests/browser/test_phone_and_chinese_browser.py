"""Phones and Chinese in a real browser (issue 14): every page and view at 390×844 (a phone: its
user agent, touch, a mobile viewport) and at 1400×1000, screenshot into test-artifacts/, with
nothing wider than the screen (the document does not scroll sideways; an element of the main
block wider than the viewport is only allowed inside a horizontally scrollable table), metric
tiles two per row, filters collapsed into one panel, and every chart's value labels inside the
chart. Streamlit's own English is checked where AppTest cannot see it: the file uploader, the
dialog for an unknown url, and what ui.streamlit_text's script translates on every page (the table
toolbar's tooltips and search bar, a drop-down's "No results", the uploader's refusal of a file over
its limit), leaving the archive's own words as typed.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from crm import clock
from crm.db import open_archive
from crm.seed import seed_demo
from ui import streamlit_text

from .helpers import assert_no_exception, log_in, screenshot, wait_for_app

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2,
         "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                       "Version/17.5 Mobile/15E148 Safari/604.1"}
DESKTOP = {"viewport": {"width": 1400, "height": 1000}}
# (name, url path, the segmented-control or tab view to open after the page loads)
VIEWS = [("home", "/", None), ("import", "/import", None), ("customers", "/customers", None),
         ("follow-ups", "/follow-ups", None), ("follow-ups-team", "/follow-ups", "主管视图"),
         ("complaints", "/complaints", None), ("complaints-analysis", "/complaints", "投诉分析"),
         ("complaints-satisfaction", "/complaints", "满意度"), ("segments", "/segments", None),
         ("segments-rfm", "/segments", "RFM 分群"), ("segments-tables", "/segments", "分析报表"),
         ("admin", "/admin", None), ("admin-log", "/admin", "操作日志"), ("admin-settings", "/admin", "规则设置")]

# Everything in the main block that reaches past the viewport, except inside a container that
# scrolls sideways itself (st.dataframe's grid, the import history's rows) and is within the screen.
OVERFLOW = """() => {
  const vw = window.innerWidth, main = document.querySelector('[data-testid="stMain"]');
  const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const wide = [];
  for (const el of main.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || (r.right <= vw + 1 && r.left >= -1)) continue;
    let p = el.parentElement, contained = false;
    while (p && p !== main) {
      if (scrolls(p) || getComputedStyle(p).overflowX === 'hidden') {
        const box = p.getBoundingClientRect();
        if (box.right <= vw + 1 && box.left >= -1) { contained = true; break; }
      }
      p = p.parentElement;
    }
    if (!contained) wide.push(`${el.getAttribute('data-testid') || el.tagName} ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: vw, wide: wide.slice(0, 10)};
}"""
MAIN_HEIGHT = "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
# Every value label of every Plotly chart: its box and its chart's box.
CHART_TEXT = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].flatMap(chart => {
  const svg = chart.querySelector('svg.main-svg');
  if (!svg) return [];
  const frame = svg.getBoundingClientRect();
  return [...chart.querySelectorAll('g.textpoint text, text.bartext')].filter(t => t.textContent.trim()).map(t => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, inside: r.left >= frame.left - 1 && r.right <= frame.right + 1 &&
            r.top >= frame.top - 1 && r.bottom <= frame.bottom + 1};
  });
})"""


@pytest.fixture(scope="module")
def app(streamlit_app_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    db = tmp_path_factory.mktemp("phone") / "crm.duckdb"
    archive = open_archive(db)
    seed_demo(archive, customers=600, seed=11, today=clock.today())
    cur = archive.cursor()  # a tag that is also a word of Streamlit's: shown as typed, never translated
    cur.execute("INSERT INTO customer_tags (customer_id, tag) SELECT min(customer_id), 'Sum' FROM customers")
    cur.close()
    archive.close()
    return streamlit_app_factory(db)


def _context(browser: Browser, options: dict[str, Any]) -> Iterator[Page]:
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **options)
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    yield from _context(browser, PHONE)


@pytest.fixture
def desktop(browser: Browser) -> Iterator[Page]:
    yield from _context(browser, DESKTOP)


TITLES = {"/": "档案概况", "/import": "数据导入", "/customers": "客户查询", "/follow-ups": "跟进队列",
          "/complaints": "投诉分析", "/segments": "客户分类", "/admin": "系统管理"}


def _open(page: Page, url: str, path: str, view: str | None) -> None:
    """The page as its user sees it, logged in: a deep link that is the server's first request runs
    once in Streamlit's old folder mode before the app's navigation takes over
    (ui.common.ensure_app_navigation), so the page's own title is waited for, not only the run."""
    page.goto(url + path)
    title = page.locator("h1").first
    expect(title).to_have_text(re.compile(f"^({TITLES[path]}|登录客户档案)$"), timeout=60_000)
    if title.inner_text() == "登录客户档案":
        log_in(page, "admin")
    expect(title).to_have_text(TITLES[path], timeout=60_000)
    wait_for_app(page)
    expect(page.locator(f"#{streamlit_text.MARKER}")).to_have_count(1)  # the translating script, on every page
    if view is not None:
        tab = page.get_by_role("tab", name=view)  # a tab (客户分类) or a segmented control's option
        tab.or_(page.locator('[data-testid="stButtonGroup"] button', has_text=view)).first.click()
        wait_for_app(page, settle_ms=300)
    assert_no_exception(page)


def _full_screenshot(page: Page, name: str) -> Path:
    """The whole page: Streamlit scrolls inside stMain, so the viewport is grown to its height first."""
    size = page.viewport_size or {"width": 390, "height": 844}
    height = size["height"]
    for _ in range(4):  # a taller viewport can draw more (lazily loaded charts): until the height holds
        wanted = min(max(page.evaluate(MAIN_HEIGHT), size["height"]), 16000)
        if wanted == height:
            break
        height = wanted
        page.set_viewport_size({"width": size["width"], "height": height})
        wait_for_app(page, settle_ms=300)
    try:
        return screenshot(page, name)
    finally:
        page.set_viewport_size(size)


def _assert_fits(page: Page, where: str) -> None:
    found = page.evaluate(OVERFLOW)
    assert found["scrollWidth"] <= found["innerWidth"], (where, found)
    assert not found["wide"], (where, found)


def _assert_chart_labels_inside(page: Page, where: str) -> None:
    labels = page.evaluate(CHART_TEXT)
    assert all(label["inside"] for label in labels), (where, [lab["text"] for lab in labels if not lab["inside"]])


@pytest.mark.parametrize(("name", "path", "view"), VIEWS, ids=[v[0] for v in VIEWS])
def test_every_page_fits_a_phone(app: Any, phone: Page, name: str, path: str, view: str | None) -> None:
    _open(phone, app.url, path, view)
    _assert_fits(phone, name)
    _assert_chart_labels_inside(phone, name)
    _full_screenshot(phone, f"phone-{name}")
    _assert_fits(phone, name)  # at the full height too (every lazily drawn element is there)
    _assert_chart_labels_inside(phone, name)


@pytest.mark.parametrize(("name", "path", "view"), VIEWS, ids=[v[0] for v in VIEWS])
def test_every_page_fits_a_desktop(app: Any, desktop: Page, name: str, path: str, view: str | None) -> None:
    _open(desktop, app.url, path, view)
    _assert_fits(desktop, name)
    _assert_chart_labels_inside(desktop, name)
    _full_screenshot(desktop, f"desktop-{name}")


def test_tiles_go_two_per_row_and_filters_fold_on_a_phone(app: Any, phone: Page) -> None:
    _open(phone, app.url, "/", None)
    tiles = phone.locator('[data-testid="stMetric"]')
    expect(tiles.first).to_be_visible()
    boxes = [tiles.nth(i).bounding_box() for i in range(4)]
    assert all(b is not None for b in boxes)
    first, second, third = boxes[0], boxes[1], boxes[2]
    assert abs(first["y"] - second["y"]) < 2 and third["y"] > first["y"] + first["height"] - 2  # two per row
    assert 120 < first["width"] < 390 * 0.6

    _open(phone, app.url, "/segments", None)
    panel = phone.locator('[data-testid="stExpander"]').filter(has_text="截至").first
    expect(panel).to_be_visible()
    expect(panel.locator("details")).not_to_have_attribute("open", re.compile(".*"))  # folded: the tiles come first
    expect(phone.locator('[data-testid="stSelectbox"]').filter(has_text="负责人")).to_be_hidden()
    panel.locator("summary").click()
    wait_for_app(phone)
    expect(phone.locator('[data-testid="stSelectbox"]').filter(has_text="负责人")).to_be_visible()


def test_the_customer_filters_fold_on_a_phone_and_say_what_is_set(app: Any, phone: Page) -> None:
    _open(phone, app.url, "/customers", None)
    panel = phone.locator('[data-testid="stExpander"]').filter(has_text="筛选：全部客户")
    expect(panel).to_be_visible()
    expect(panel.locator("details")).not_to_have_attribute("open", re.compile(".*"))  # folded: the list comes first
    expect(phone.locator('[data-testid="stSelectbox"]').filter(has_text="需求阶段")).to_be_hidden()
    expect(phone.get_by_role("textbox", name=re.compile("^搜索："))).to_be_visible()  # the search box stays outside the panel
    panel.locator("summary").click()
    wait_for_app(phone)
    stage = phone.get_by_role("combobox", name="需求阶段", exact=True)
    expect(stage).to_be_visible()
    stage.click()
    option = phone.get_by_role("option").nth(1)  # the first stage after 全部
    picked = option.inner_text().strip()
    option.click()
    wait_for_app(phone)
    expect(phone.locator('[data-testid="stExpander"] summary')).to_have_text(re.compile(f"筛选：需求阶段 {picked}$"))
    assert_no_exception(phone)


def test_the_filters_are_open_on_a_desktop(app: Any, desktop: Page) -> None:
    _open(desktop, app.url, "/segments", None)
    expect(desktop.locator('[data-testid="stSelectbox"]').filter(has_text="负责人")).to_be_visible()


def _pseudo(page: Page, selector: str) -> str:
    return page.evaluate("s => getComputedStyle(document.querySelector(s), '::after').content", selector)


def test_the_file_uploader_speaks_chinese_and_states_the_real_limit(app: Any, desktop: Page) -> None:
    _open(desktop, app.url, "/import", None)
    zone = desktop.locator('[data-testid="stFileUploaderDropzone"]')
    expect(zone).to_be_visible()
    expect(desktop.locator('[data-testid="stFileUploader"] label')).to_contain_text("单个文件不超过 50 MB")
    # what Streamlit writes is hidden, Chinese is drawn in its place
    expect(zone.locator('[data-testid="stFileUploaderDropzoneInstructions"] > div')).to_be_hidden()
    expect(zone.locator("button [data-testid='stMarkdownContainer'] p")).to_be_hidden()
    assert _pseudo(desktop, '[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"]') \
        == '"选择文件"'
    assert "拖" in _pseudo(desktop, '[data-testid="stFileUploaderDropzoneInstructions"]')
    visible = zone.evaluate("""z => [...z.querySelectorAll('*')].filter(e => e.offsetParent && !e.children.length &&
                                        e.getAttribute('data-testid') !== 'stIconMaterial').map(e => e.textContent)""")
    assert not [t for t in visible if re.search(r"[A-Za-z]{2,}", t)], visible

    # while a file is dragged over it: Streamlit's "Drag and drop files here" gives way to Chinese
    zone.evaluate("""z => { const dt = new DataTransfer(); dt.items.add(new File(['x'], 'a.xlsx'));
                            z.dispatchEvent(new DragEvent('dragenter', {bubbles: true, dataTransfer: dt})); }""")
    overlay = zone.locator(":scope > div:not([data-testid]) > span")
    expect(overlay).to_have_count(1)
    assert overlay.evaluate("e => getComputedStyle(e).fontSize") == "0px"
    assert _pseudo(desktop, '[data-testid="stFileUploaderDropzone"] > div:not([data-testid]) > span') == '"松开鼠标即可上传"'
    screenshot(desktop, "chinese-uploader-drag")


def test_streamlits_english_beyond_the_style_sheet_is_chinese(app: Any, desktop: Page) -> None:
    _open(desktop, app.url, "/customers", None)
    # the table's toolbar: its buttons' names and, after the hover delay, their tooltips
    desktop.locator('[data-testid="stDataFrame"]').first.hover()
    buttons = desktop.locator('[data-testid="stElementToolbarButton"] button')
    expect(buttons).to_have_count(3)
    for i, name in enumerate(["显示/隐藏列", "搜索", "全屏"]):
        expect(buttons.nth(i)).to_have_attribute("aria-label", name)
    tooltip = desktop.locator('[data-testid="stTooltipContent"]')
    buttons.nth(1).hover()
    expect(tooltip).to_have_text("搜索")
    buttons.nth(2).hover()
    expect(tooltip).to_have_text("全屏")
    screenshot(desktop, "chinese-table-toolbar")
    # its search bar (the grid lies over the button for the pointer: the click goes to the button itself)
    buttons.nth(1).dispatch_event("click")
    expect(desktop.get_by_text("输入要查找的内容", exact=True)).to_be_visible()
    desktop.keyboard.type("张")
    expect(desktop.locator('[data-testid="search-result-area"]')).to_have_text(re.compile(r"^\d+ 个结果$"))
    desktop.keyboard.press("Escape")

    # a drop-down: its hint, and a term nothing matches
    owner = desktop.get_by_role("combobox", name="负责人", exact=True)
    expect(owner).to_have_attribute("placeholder", "请选择")
    owner.click()
    owner.fill("没有这个负责人")
    expect(desktop.get_by_text("没有匹配的选项", exact=True)).to_be_visible()
    expect(desktop.get_by_text("No results")).to_have_count(0)
    screenshot(desktop, "chinese-no-results")
    desktop.keyboard.press("Escape")
    # the archive's own words stay as typed, even one that is a word of Streamlit's
    tags = desktop.get_by_role("combobox", name="标签", exact=True)
    tags.click()
    tags.fill("Sum")
    expect(desktop.get_by_role("option", name="Sum", exact=True)).to_be_visible()
    expect(desktop.get_by_role("option", name="合计", exact=True)).to_have_count(0)
    desktop.keyboard.press("Escape")
    assert_no_exception(desktop)


def test_a_file_over_the_uploaders_limit_is_refused_in_chinese(app: Any, desktop: Page, tmp_path: Path) -> None:
    _open(desktop, app.url, "/import", None)
    big = tmp_path / "太大.xlsx"
    with big.open("wb") as f:  # sparse: over the widget's limit (twice the reader's 50 MB) without writing it
        f.truncate(101 * 1024 * 1024)
    desktop.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(big)
    chip = desktop.locator('[data-testid="stFileChip"]').filter(has_text="太大.xlsx")
    expect(chip).to_be_visible()
    expect(chip.locator('[role="alert"]')).to_have_text(re.compile(r"^错误：\s*文件太大（超过 100\.0MB），无法上传。$"))
    chip.hover()
    expect(desktop.get_by_role("tooltip").filter(has_text="文件太大")).to_be_visible()
    expect(desktop.get_by_text("or smaller", exact=False)).to_have_count(0)
    screenshot(desktop, "chinese-uploader-too-large")


def test_an_unknown_url_opens_the_home_page_with_a_chinese_note(app: Any, desktop: Page) -> None:
    desktop.goto(app.url + "/no-such-page")
    wait_for_app(desktop)
    expect(desktop.locator("h1")).to_have_text("登录客户档案")  # a visitor: the log-in page, with the note
    expect(desktop.get_by_text("登录后将打开首页", exact=False)).to_be_visible()
    expect(desktop.locator('[role="dialog"]')).to_have_count(0)
    log_in(desktop, "admin")
    assert_no_exception(desktop)
    expect(desktop.locator("h1")).to_have_text("档案概况")
    expect(desktop.get_by_text("没有对应的页面", exact=False)).to_be_visible()
    expect(desktop.get_by_text("Page not found", exact=False)).to_have_count(0)
    expect(desktop.locator('[role="dialog"]')).to_have_count(0)
    screenshot(desktop, "chinese-unknown-url")
