"""End-to-end: the real app (real model, index built from seeds/) in headless Chromium.

Uses Debian's chromium (``apt-get install chromium``) driven by Playwright's Python API;
``playwright install`` is never needed. Screenshots go to ``screenshots/`` (git-ignored).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect, sync_playwright

from load import start_app, stop_app

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
START_TIMEOUT = 900  # first start materialises the model and builds the index from seeds/
ANSWER_TIMEOUT_MS = 120_000

# A made-up issue: 青桐苑 and its 23 charging spaces appear nowhere in seeds/.
NEW_ISSUE = """【宜居家园】

青桐苑建成智能充电棚 电动车充电不再难

近日，青桐苑小区的智能充电棚正式投入使用，共设置了23个充电位，居民扫码即可为电动自行车充电。

青桐苑居民区党总支书记表示，充电棚建成后，楼道里“飞线充电”的现象基本消失，小区的消防安全得到了保障。
"""
NEW_ISSUE_NAME = "青桐苑 第1期.txt"  # the app stores it as 青桐苑_第1期.txt
NEW_ISSUE_STORED = "青桐苑_第1期.txt"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """Start ``python app.py`` on a free port of 127.0.0.1 with a fresh index dir; yield its URL."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with "
                    "`apt-get update && apt-get install -y chromium chromium-driver`")
    work = tmp_path_factory.mktemp("app")
    proc, url = start_app(work / "index", "", work / "app.log", timeout=START_TIMEOUT)
    try:
        yield url
    finally:
        stop_app(proc)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, app_url):
    """A fresh Chinese-locale page on the app; ``page.requests`` lists every URL it asked for."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1100, "height": 1100})
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    tab = context.new_page()
    tab.requests = requests
    tab.goto(app_url)
    tab.locator("#rag-question textarea").wait_for(timeout=60_000)
    expect(tab.locator("#rag-status")).to_contain_text("期报纸", timeout=60_000)  # load event done
    SHOTS.mkdir(exist_ok=True)
    yield tab
    context.close()


def assert_only_local(requests: list[str]) -> None:
    assert requests, "no requests were recorded"
    outside = [u for u in requests if urlsplit(u).scheme not in ("data", "blob")
               and urlsplit(u).hostname not in LOCAL_HOSTS]
    assert not outside, f"requests left localhost: {outside}"


def ask(page, question: str):
    """Type a question, press Enter, and return the new answer's locator."""
    answers = page.locator("#rag-chat .rag-answer")
    before = answers.count()
    page.locator("#rag-question textarea").fill(question)
    page.locator("#rag-question textarea").press("Enter")
    expect(answers).to_have_count(before + 1, timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_timeout(300)  # let the chat finish scrolling before screenshots
    return answers.last


def upload(page, path: Path, shown_name: str):
    """Upload ``path`` through the 添加新一期报纸 panel; return the result message locator.

    Waits for a message naming ``shown_name``, so an earlier upload's message is not taken
    for this one's.
    """
    if not page.locator("#rag-upload").is_visible():
        page.get_by_text("添加新一期报纸").click()
    page.locator("#rag-upload input[type=file]").set_input_files(str(path))
    message = page.locator("#rag-upload-msg")
    message.locator(".rag-ok, .rag-error").filter(has_text=shown_name).wait_for(
        timeout=ANSWER_TIMEOUT_MS)
    return message


def test_first_view_and_cited_answer(page):
    status = page.locator("#rag-status").inner_text()
    assert "5 期报纸" in status and "篇文章" in status and "个片段" in status, status
    page.screenshot(path=str(SHOTS / "start.png"), full_page=True)

    answer = ask(page, "兰岭园新增了多少个停车位？")
    assert "7个停车位" in answer.locator(".rag-short").inner_text()
    assert "[1]" in answer.locator(".rag-text").inner_text()
    sources = answer.locator(".rag-src")
    assert sources.count() >= 1
    first = sources.first.inner_text()
    assert "000_54cc604d7de70b0b.txt" in first and "停车难题" in first, first
    assert "7个停车位" in sources.first.locator("mark").inner_text()
    page.screenshot(path=str(SHOTS / "answer.png"), full_page=True)

    # an example button asks its question
    page.get_by_role("button", name="金梅园百姓会客厅的主题色是什么？").click()
    expect(page.locator("#rag-chat .rag-answer")).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#rag-chat [data-testid=user]").last).to_contain_text("金梅园")
    assert_only_local(page.requests)


def test_follow_up_question_uses_previous_turn(page):
    first = ask(page, "曹杨公寓小区有多少个车位？")
    assert "54个" in first.inner_text(), first.inner_text()
    follow = ask(page, "那实际有多少辆车？")  # only makes sense after the previous question
    page.screenshot(path=str(SHOTS / "followup.png"), full_page=True)
    assert "rag-refusal" not in follow.get_attribute("class"), follow.inner_text()
    assert "80" in follow.inner_text(), follow.inner_text()
    assert "000_54cc604d7de70b0b.txt" in follow.locator(".rag-src").first.inner_text()
    assert_only_local(page.requests)


def test_upload_new_issue_then_ask(page, tmp_path):
    issue = tmp_path / NEW_ISSUE_NAME
    issue.write_text(NEW_ISSUE, encoding="utf-8")
    message = upload(page, issue, NEW_ISSUE_STORED)
    text = message.inner_text()
    assert message.locator(".rag-ok").count() == 1, text
    assert NEW_ISSUE_STORED in text, text
    embedded, reused = map(int, re.search(r"新增 (\d+) 个片段，复用 (\d+) 个", text).groups())
    assert 1 <= embedded <= 3 and reused >= 50, text  # only the new issue's chunks are embedded
    assert "6 期报纸" in page.locator("#rag-status").inner_text()

    answer = ask(page, "青桐苑的充电棚有多少个充电位？")
    assert "23个" in answer.inner_text(), answer.inner_text()
    sources = answer.locator(".rag-src")
    assert NEW_ISSUE_STORED in sources.first.inner_text(), sources.first.inner_text()
    page.screenshot(path=str(SHOTS / "upload.png"), full_page=True)
    assert_only_local(page.requests)


def test_bad_uploads_leave_index_unchanged(page, tmp_path):
    status_before = page.locator("#rag-status").inner_text()
    doc = tmp_path / "report.doc"
    doc.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    message = upload(page, doc, "report.doc")
    assert message.locator(".rag-error").count() == 1
    assert ".txt、.md、.pdf、.docx、.html 或 .htm" in message.inner_text(), message.inner_text()

    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    message = upload(page, pdf, "report.pdf")
    text = message.inner_text()
    assert message.locator(".rag-error").count() == 1 and "not a readable PDF" in text, text
    assert "索引保持不变" in text, text

    binary = tmp_path / "garbage.txt"
    binary.write_bytes(bytes(range(256)) * 8)
    message = upload(page, binary, "garbage.txt")
    assert message.locator(".rag-error").count() == 1, message.inner_text()
    assert "garbage.txt" in message.inner_text() and "索引保持不变" in message.inner_text()
    page.screenshot(path=str(SHOTS / "bad_upload.png"), full_page=True)
    assert page.locator("#rag-status").inner_text() == status_before
    answer = ask(page, "兰岭园新增了多少个停车位？")  # the old index still answers
    assert "7个停车位" in answer.inner_text()
    assert_only_local(page.requests)


# Pixels of the viewer's page image in the highlight colour (yellow over white or black).
COUNT_HIGHLIGHT = """(img) => {
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i] > 230 && d[i + 1] > 150 && d[i + 1] < 235 && d[i + 2] < 140) n++;
  }
  return n;
}"""


def test_upload_pdf_ask_and_open_the_cited_page(page, tmp_path):
    from issue_files import build_pdf
    from rag.clean import clean_text
    from rag.segment import segment_issue
    articles = segment_issue(clean_text(NEW_ISSUE.replace("青桐苑", "紫藤苑")), "x.txt")
    pdf = build_pdf(articles, tmp_path / "紫藤苑 2021-03.pdf")
    message = upload(page, pdf, "紫藤苑_2021-03.pdf")
    assert message.locator(".rag-ok").count() == 1, message.inner_text()

    answer = ask(page, "紫藤苑的充电棚有多少个充电位？")
    assert "23个" in answer.inner_text(), answer.inner_text()
    source = answer.locator(".rag-src").first
    # the paper, date, page label and page number, not the bare file name
    assert "凉城社区晨报 · 2021年3月 · 第1版 · 第1页" in source.inner_text(), source.inner_text()

    source.click()
    image = page.locator("#rag-viewer img.rag-page")
    expect(image).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#rag-viewer")).to_contain_text("第1页")
    page.wait_for_function("() => document.querySelector('#rag-viewer img.rag-page').complete")
    assert image.evaluate("(img) => img.naturalWidth") > 500
    assert image.evaluate(COUNT_HIGHLIGHT) > 200   # the quoted sentence is marked on the page
    page.screenshot(path=str(SHOTS / "pdf_citation.png"), full_page=True)

    # a .txt citation opens the article's text with the quote marked
    answer = ask(page, "兰岭园新增了多少个停车位？")
    answer.locator(".rag-src").first.click()
    expect(page.locator("#rag-viewer .rag-article mark")).to_contain_text("7个停车位", timeout=ANSWER_TIMEOUT_MS)
    expect(page.locator("#rag-viewer img.rag-page")).to_have_count(0)
    assert_only_local(page.requests)
