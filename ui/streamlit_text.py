"""Streamlit's own English that no style sheet reaches, in Chinese: one dictionary, applied in the browser.

The style sheet (ui.common.page_style) replaces what sits in a fixed place (the file uploader's
button and hint, input hints, empty date segments). What it cannot reach is drawn on demand, in
popovers and attributes: the table toolbar's tooltips (显示/隐藏列, 搜索, 全屏), the table's search
bar, column menu and its sub-menus, a drop-down's "No results" and "Add: …", the file uploader's
refusal of a file over its limit, and the labels screen readers read. `script()` is a
MutationObserver on the app's document that replaces each of these strings (a text node's text, a
`title`, `aria-label` or `placeholder`, whole, spaces around it aside) with its Chinese whenever
Streamlit draws it. page_style adds it to every page run with st.html(…, unsafe_allow_javascript=True),
which runs it in the app's own document (st.components.v1.html, an iframe reaching
window.parent.document, is deprecated in Streamlit 1.67); it installs itself once per browser tab.

The archive's words are never touched: no text of the page's own elements (Markdown, text, code,
tables, charts, metric values, a drop-down's chosen values, a file's name: `_CONTENT`), and inside a
drop-down's list only the list's own messages (`IN_LISTS`), so a customer, a tag or a file named
like one of these words is shown as typed.

The strings are Streamlit 1.67's (frontend bundles DataFrame, Toolbar, Selectbox, Multiselect,
FileUploader …); tests/pages/test_streamlit_text.py checks that each is still in Streamlit's bundle,
so an upgrade that rewords one fails a test instead of bringing the English back unnoticed.
"""
from __future__ import annotations

import json

# Exact strings (a whole text node or attribute, spaces around it aside) → Chinese.
TEXTS: dict[str, str] = {
    # the table toolbar (st.dataframe), its tooltips and buttons
    "Show/hide columns": "显示/隐藏列",
    "Search": "搜索",
    "Fullscreen": "全屏",
    "Close fullscreen": "退出全屏",
    "Clear selection": "清除选择",
    "Download as CSV": "下载为 CSV",
    "Add row": "添加行",
    "Delete row(s)": "删除行",
    "Select all": "全选",
    # the table's search bar
    "Type to search": "输入要查找的内容",
    "Previous Result": "上一个结果",
    "Next Result": "下一个结果",
    "Close Search": "关闭搜索",
    "over 1000": "超过 1000 个结果",
    # a column's menu and its sub-menus
    "Dataframe column menu": "列菜单",
    "Copy column name": "复制列名",
    "Sort ascending": "升序排列",
    "Sort descending": "降序排列",
    "Format": "显示格式",
    "Autosize": "自动调整列宽",
    "Pin column": "固定此列",
    "Unpin column": "取消固定",
    "Hide column": "隐藏此列",
    "Statistics": "统计",
    "Automatic": "自动",
    "Localized": "本地格式",
    "Plain": "原始数值",
    "Compact": "简写",
    "Dollar": "美元",
    "Euro": "欧元",
    "Yen": "日元",
    "Percent": "百分比",
    "Scientific": "科学计数",
    "Accounting": "会计格式",
    "Duration": "时长",
    "Distance": "距今",
    "Calendar": "日历",
    "Values": "值的个数",
    "Empty": "空值",
    "Distinct": "不同值",
    "Average": "平均值",
    "Standard deviation": "标准差",
    "Minimum": "最小值",
    "25th percentile": "25% 分位数",
    "Median": "中位数",
    "75th percentile": "75% 分位数",
    "Maximum": "最大值",
    "Sum": "合计",
    "Minimum length": "最短长度",
    "Maximum length": "最长长度",
    "Average length": "平均长度",
    "Range": "范围",
    "No data": "没有数据",
    "Based on sample": "按抽样计算",
    "Distribution histogram": "分布直方图",
    "Top values frequency chart": "最常见的值",
    "True/false distribution chart": "是/否分布",
    "(index)": "（行号）",
    # a column's kind, the tooltip of the icon before its name in the column menu
    "text": "文本",
    "number": "数字",
    "date": "日期",
    "datetime": "日期时间",
    "time": "时间",
    "checkbox": "是/否",
    "link": "链接",
    "list": "列表",
    # a chart's toolbar (st.bar_chart)
    "Show data": "查看数据",
    "Show chart": "查看图表",
    "Download as PNG": "下载为 PNG",
    # drop-downs (st.selectbox, st.multiselect)
    "No results": "没有匹配的选项",
    "Choose an option": "请选择",
    "Choose options": "请选择",
    "Clear value": "清除",
    "Clear all": "全部清除",
    "Open": "展开选项",
    "Selectbox options": "选项",
    "Multiselect options": "选项",
    "Selected values": "已选",
    "Dismiss": "关闭",
    # the file uploader (its button and hint: the style sheet) and its file chips (a file refused by
    # the browser: over the size limit …)
    "file upload": "上传文件",
    "Add files": "添加文件",
    "Error:": "错误：",
    "Upload failed": "上传失败",
    "Click to retry upload": "点击重新上传",
    "File size is too small.": "文件太小。",
    "Only one file is allowed.": "只能选择一个文件。",
    "Unexpected error. Please try again.": "意外错误，请重试。",
    # date and number fields, read by screen readers
    "Choose date": "选择日期",
    "Increment": "增加",
    "Decrement": "减少",
    # the page frame, read by screen readers
    "Sidebar": "侧边栏",
    "Collapse sidebar": "收起侧边栏",
    "Expand sidebar": "展开侧边栏",
    "App pages": "页面",
    "Link to heading": "链接到此标题",
}

# Strings with a number or a name in them: (JavaScript regular expression, replacement with $1 …).
PATTERNS: tuple[tuple[str, str], ...] = (
    (r"^File must be (.+) or smaller\.$", "文件太大（超过 $1），无法上传。"),
    (r"^(.+) files are not allowed\.$", "不接受 $1 类型的文件。"),
    (r"^Remove (.+)$", "移除 $1"),
    (r"^Cancel upload of (.+)$", "取消上传 $1"),
    (r"^Add: (.+)$", "添加：$1"),
    (r"^Select (\d+) matches$", "选择 $1 个匹配项"),
    (r"^You can only select up to (\d+) options?\. Remove an option first\.$", "最多只能选择 $1 项，请先移除一项。"),
    (r"^(\d+) options? available\.$", "有 $1 个选项"),
    (r"^(\d+) results?$", "$1 个结果"),
    (r"^(\d+) of (\d+) results?$", "第 $1 个，共 $2 个结果"),
    (r"^(\d+) of over 1000$", "第 $1 个，超过 1000 个结果"),
    (r"^Help for (.+)$", "「$1」的说明"),
    (r"^year, (.+)$", "$1：年"),
    (r"^month, (.+)$", "$1：月"),
    (r"^day, (.+)$", "$1：日"),
)
# (and "<one of TEXTS>: <a name>", as a toolbar button's aria-label names its table: "Search: 客户列表")

# Inside a drop-down's list every option is the app's data; only the list's own messages are translated.
IN_LISTS: frozenset[str] = frozenset({
    "No results", "Select all", r"^Add: (.+)$", r"^Select (\d+) matches$",
    r"^You can only select up to (\d+) options?\. Remove an option first\.$",
})

# Text never translated: what the page itself shows (its Markdown, text, code, tables, charts, a
# drop-down's chosen values, a file's name) and what a user types.
_CONTENT = ", ".join([
    '[data-testid="stMain"] [data-testid="stMarkdownContainer"]',
    '[data-testid="stSidebar"] [data-testid="stMarkdownContainer"]',
    '[data-testid="stText"]', '[data-testid="stCode"]', '[data-testid="stJson"]', '[data-testid="stHtml"]',
    '[data-testid="stTable"]', '[data-testid="data-grid-canvas"]', '[data-testid="stMetricValue"]',
    '[data-testid="stPlotlyChart"]', '[data-testid="stVegaLiteChart"]', '[data-testid="stFileChipName"]',
    '[data-testid="stSelectbox"]', '[data-testid="stMultiSelect"]',
    "textarea", "[contenteditable]", "script", "style",
])

MARKER = "crm-streamlit-text"  # the id of the element beside the script (the style sheet hides its container)

_JS = """
(() => {
  const DATA = %(data)s;
  if (window.__crmStreamlitText) return;  // once per browser tab: the observer sees every later page and run
  window.__crmStreamlitText = true;
  const texts = new Map(Object.entries(DATA.texts));
  const patterns = DATA.patterns.map(([source, to]) => [source, new RegExp(source), to]);
  const inLists = new Set(DATA.inLists);
  const ATTRS = ["title", "aria-label", "placeholder"];
  const named = /^([^:]+): (.+)$/;
  function chinese(value, inList) {
    const key = value.trim();
    if (!key) return null;
    let out = null;
    if (texts.has(key) && (!inList || inLists.has(key))) out = texts.get(key);
    for (const [source, re, to] of out === null ? patterns : []) {
      if ((!inList || inLists.has(source)) && re.test(key)) { out = key.replace(re, to); break; }
    }
    const m = out !== null || inList ? null : key.match(named);  // "Search: 客户列表": a button's word, its table
    if (m && texts.has(m[1])) out = texts.get(m[1]) + "：" + m[2];
    return out === null ? null : value.replace(key, () => out);  // a function: a "$" in a name stays as typed
  }
  const CONTENT = %(content)s;
  function inList(el) { return !!el.closest('[role="option"]'); }
  function textNode(node) {
    const el = node.parentElement;
    if (!el || el.closest(CONTENT)) return;
    const out = chinese(node.nodeValue, inList(el));
    if (out !== null && out !== node.nodeValue) node.nodeValue = out;
  }
  // Attributes are Streamlit's hints and labels: the app's data reaches one only as a widget's label the
  // app wrote or a file's name (with its extension), neither of them one of these strings.
  function attributes(el) {
    for (const name of ATTRS) {
      const value = el.getAttribute(name);
      if (!value) continue;
      const out = chinese(value, false);
      if (out !== null && out !== value) el.setAttribute(name, out);
    }
  }
  function subtree(root) {
    if (root.nodeType === Node.TEXT_NODE) { textNode(root); return; }
    if (root.nodeType !== Node.ELEMENT_NODE) return;
    attributes(root);
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.nodeType === Node.TEXT_NODE) textNode(node); else attributes(node);
    }
  }
  new MutationObserver(records => {
    for (const r of records) {
      if (r.type === "childList") r.addedNodes.forEach(subtree);
      else if (r.type === "characterData") textNode(r.target);
      else if (r.type === "attributes") attributes(r.target);
    }
  }).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true,
                             attributeFilter: ATTRS});
  subtree(document.body);
})();
"""


def script() -> str:
    """The HTML for st.html(…, unsafe_allow_javascript=True): a hidden marker and the script."""
    data = {"texts": TEXTS, "patterns": [list(p) for p in PATTERNS], "inLists": sorted(IN_LISTS)}
    code = _JS % {"data": json.dumps(data, ensure_ascii=False), "content": json.dumps(_CONTENT)}
    return f'<span id="{MARKER}" hidden></span><script>{code}</script>'
