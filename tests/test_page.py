"""The chat page (`GET /`) and the embeddable widget in a real browser: Playwright driving
Debian's chromium against real gunicorn servers.

One server holds the seed article and an article with emoji and other astral characters (so
that JavaScript's UTF-16 offsets differ from the API's code points); another never loads its
index (503) and is then stopped (network error). A screenshot of each state is saved under the
run's temporary folder (`pytest --basetemp=DIR` puts them in DIR/screenshots); the README's come
from there.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Locator, Page, Request, expect, sync_playwright

from tests.conftest import FENTANYL_QUESTION, FOLLOW_UP_QUESTION, ROBINSON_QUESTION, SEED_ID, SEED_TEXT, SEEDS
from tests.servers import Server, free_port, start_server

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DECLINED_QUESTION = "What is the recipe for sourdough bread?"
FENTANYL_SPAN = (921, 1115)

EMOJI_ID = "harbour-bakery"
EMOJI_TITLE = "Harbour Street bakery 🥐 turns ten and plans a second shop"
EMOJI_QUESTION = "Where will the bakery open its second shop?"
EMOJI_SENTENCE = (  # the answer, with an astral character inside it
    "The bakery will open a second shop 🏪 at the old ferry terminal in March, owner Marta Lindqvist said."
)
# Astral characters (one code point, two UTF-16 units each) before the cited sentence too.
EMOJI_TEXT = (
    "Crumb & Co. 😀 celebrated its tenth year on Saturday with a street party 🎉🎂 that drew hundreds of "
    "neighbours, and the owner signed the guest book with a flourish: 𝕏𝕐 𝔘.\n"
    f"{EMOJI_SENTENCE}\n"
    "Lindqvist said the new shop will bake rye bread and cinnamon buns every morning from six o'clock.\n"
)

# WCAG 2.x contrast of every visible piece of text against the background it is painted on.
CONTRAST_FAILURES = """(root) => {
  const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const parse = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const background = (node) => {
    for (; node && node.nodeType === 1; node = node.parentElement || (node.getRootNode() || {}).host) {
      const [r, g, b, a] = parse(getComputedStyle(node).backgroundColor);
      if (a === undefined || a > 0.5) return [r, g, b];
    }
    return [255, 255, 255];
  };
  const failures = [];
  const walk = (scope) => {
    const walker = document.createTreeWalker(scope, NodeFilter.SHOW_TEXT);
    for (let text = walker.nextNode(); text; text = walker.nextNode()) {
      const element = text.parentElement;
      if (!text.textContent.trim() || !element || !element.getClientRects().length) continue;
      const style = getComputedStyle(element);
      if (style.visibility === "hidden" || parseFloat(style.opacity) < 0.5) continue;
      const [fg, bg] = [luminance(parse(style.color)), luminance(background(element))];
      const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
      const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
      const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
      if (ratio < needed) failures.push(`${ratio.toFixed(2)} < ${needed}: ${text.textContent.trim().slice(0, 40)}`);
    }
    scope.querySelectorAll("*").forEach((node) => node.shadowRoot && walk(node.shadowRoot));
  };
  walk(root);
  return failures;
}"""


# Every text added to a live region (aria-live polite or assertive, or the implicitly live roles
# log, status and alert; not under aria-live="off"), in the page or a shadow root, from now on: what
# a screen reader is given to read out, each addition as it was made.
WATCH_LIVE_REGIONS = """() => {
  window.liveTexts = [];
  const liveRegion = (node) => {
    for (; node; node = node.parentNode || node.host) {
      if (node.nodeType !== 1) continue;
      const live = node.getAttribute("aria-live");
      if (live === "off") return null;
      if (live === "polite" || live === "assertive") return node;
      if (["log", "status", "alert"].includes(node.getAttribute("role"))) return node;
    }
    return null;
  };
  const observer = new MutationObserver((records) => {
    for (const record of records) {
      if (!liveRegion(record.target)) continue;
      const added = record.type === "characterData" ? record.target.data
        : [...record.addedNodes].map((node) => node.textContent).join("");
      if (added.trim()) window.liveTexts.push(added);
    }
  });
  const roots = [document, ...[...document.querySelectorAll("*")].map((e) => e.shadowRoot).filter(Boolean)];
  for (const root of roots) observer.observe(root, { subtree: true, childList: true, characterData: true });
}"""


def write_article(folder: Path, doc_id: str, text: str, title: str, **metadata: str) -> None:
    (folder / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    (folder / f"{doc_id}.json").write_text(
        json.dumps({"id": doc_id, "title": title, "author": "Ada Reporter", "source": "The Daily Example", **metadata}),
        encoding="utf-8",
    )


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A newsroom's own web server, another origin than the API's: its URL and its folder."""
    folder = tmp_path_factory.mktemp("newsroom")
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), partial(QuietHandler, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}", folder
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, newsroom: tuple[str, Path]) -> Iterator[Server]:
    """A real server on the seed article plus the emoji article; the newsroom's origin may call it."""
    seeds = tmp_path_factory.mktemp("page-seeds")
    for source in SEEDS.glob(f"{SEED_ID}.*"):
        shutil.copy(source, seeds / source.name)
    write_article(seeds, EMOJI_ID, EMOJI_TEXT, EMOJI_TITLE)
    server = start_server(seeds, tmp_path_factory.mktemp("page-index"), env={"QA_CORS_ORIGINS": newsroom[0]})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("the browser tests need Debian's chromium: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots", numbered=False)


def shoot(what: Page | Locator, folder: Path, name: str) -> None:
    what.screenshot(path=folder / f"{name}.png", animations="disabled")


def chat_requests(page: Page) -> list[Request]:
    """Every POST to the chat route the page makes from now on."""
    requests: list[Request] = []
    page.on(
        "request",
        lambda r: requests.append(r) if r.url.endswith("/v1/chat/completions") and r.method == "POST" else None,
    )
    return requests


def console_errors(page: Page) -> list[str]:
    """The page's uncaught errors and console errors from now on; not the line Chromium logs for each
    response with an error status ("Failed to load resource"), which is the browser's, not the page's."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and not m.text.startswith("Failed to load resource") else None
        ),
    )
    return errors


def sent(request: Request) -> Any:
    """The JSON body of a request the page made."""
    body = request.post_data_json
    assert body is not None, request.url
    return body


def ask(page: Page | Locator, question: str) -> None:
    page.get_by_test_id("question").fill(question)
    page.get_by_test_id("ask").click()


def last_turn(page: Page | Locator) -> Locator:
    """The newest assistant turn, once it has finished (answered, declined or failed)."""
    turn = page.locator(".qa-assistant").last
    expect(turn.locator(".qa-streaming, .qa-status")).to_have_count(0)
    return turn


def citations_of(response_text: str) -> list[dict[str, Any]]:
    """The citations of a chat completion stream, from its final chunk."""
    chunks = [json.loads(line[6:]) for line in response_text.splitlines() if line.startswith("data: {")]
    return chunks[-1]["choices"][0]["delta"]["citations"]


def utf16_offset(text: str, offset: int) -> int:
    """A code-point offset into `text` as JavaScript counts it, in UTF-16 code units."""
    return len(text[:offset].encode("utf-16-le")) // 2


def server_events(server: Server, question: str) -> list[str]:
    """The server-sent events of the server's streamed answer to `question`, `data: ...` each."""
    body = json.dumps({"messages": [{"role": "user", "content": question}], "stream": True}).encode()
    post = urllib.request.Request(server.base_url + "/v1/chat/completions", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(post, timeout=60) as response:
        return [event for event in response.read().decode("utf-8").split("\n\n") if event]


def serve_events(page: Page, events: list[str]) -> None:
    """Answer the page's next chat requests with these events instead of the server's."""
    stream = "".join(event + "\n\n" for event in events)
    page.route(
        "**/v1/chat/completions",
        lambda route: route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=stream),
    )


def assert_contrast_aa(page: Page) -> None:
    assert page.evaluate(CONTRAST_FAILURES, page.locator("body").element_handle()) == []


def test_an_answer_streams_in_and_its_citation_opens_the_article_at_the_span(
    page: Page, server: Server, screenshots: Path
) -> None:
    page.goto(server.base_url + "/")
    expect(page.get_by_role("heading", name="Ask the articles")).to_be_visible()
    with page.expect_response("**/v1/chat/completions") as reply:
        ask(page, FENTANYL_QUESTION)
    assert sent(reply.value.request)["stream"] is True
    assert reply.value.headers["content-type"].startswith("text/event-stream")
    turn = last_turn(page)
    expect(page.get_by_role("region", name="Conversation")).to_have_attribute("aria-busy", "false")
    expect(turn.get_by_test_id("answer")).to_contain_text("particularly those contributing to the fentanyl crisis")
    citations = citations_of(reply.value.text())
    assert turn.get_by_test_id("source").count() == len(citations) >= 2  # the answer quotes the best of them
    expect(turn.get_by_test_id("citation")).not_to_have_count(0)

    turn.locator('[data-testid="citation"][data-citation-id="1"]').click()
    highlight = page.get_by_test_id("highlight")
    expect(highlight).to_have_text(SEED_TEXT[slice(*FENTANYL_SPAN)], use_inner_text=False)
    assert (citations[0]["start"], citations[0]["end"]) == FENTANYL_SPAN
    expect(highlight.first).to_be_in_viewport()
    expect(highlight.first).to_be_focused()
    others = {str(c["id"]) for c in citations[1:] if c["doc_id"] == SEED_ID}
    assert {m.get_attribute("data-citation-id") for m in page.locator("mark.qa-faint").all()} == others
    assert_contrast_aa(page)
    shoot(page, screenshots, "answer-and-article")


def test_an_answer_is_announced_once_it_is_finished_not_piece_by_piece(page: Page, server: Server) -> None:
    """The conversation was an aria-live log the answer streamed into: each piece of the stream
    changed the live region (37 changes for one answer), which a screen reader that does not wait
    out aria-busy reads piece by piece, and the finished answer was laid in while the log was
    still busy, so one that does wait could say nothing. No live region now holds a piece of an
    answer: the announcer says "Searching the articles…", then the finished answer, once."""
    page.goto(server.base_url + "/")
    expect(page.get_by_test_id("article-picker")).to_be_enabled()
    page.evaluate(WATCH_LIVE_REGIONS)
    ask(page, FENTANYL_QUESTION)
    answer = last_turn(page).get_by_test_id("answer").text_content()
    assert answer and len(answer) > 100
    heard = page.evaluate("window.liveTexts")
    assert [text for text in heard if answer[:30] in text and answer not in text] == []  # no piece
    assert [text for text in heard if answer in text] == [heard[-1]]  # the whole answer, once
    assert heard == ["Searching the articles…", heard[-1]], heard
    assert heard[-1].endswith("sources, listed below the answer.")
    announcer = page.get_by_test_id("announcer")
    expect(announcer).to_have_attribute("role", "status")

    ask(page, DECLINED_QUESTION)
    last_turn(page)
    expect(announcer).to_have_text(re.compile("^The articles don't cover this"))


# The best contrast (WCAG 2.x) any colour painted on a mark (its background, its box-shadows) has
# against the background around it: what tells a low-vision reader the words are marked.
MARK_CONTRAST = """(mark) => {
  const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const colours = (s) => [...s.matchAll(/rgba?\\(([^)]*)\\)/g)].map((m) => m[1].split(",").map(Number));
  let around = mark.parentElement;
  while (colours(getComputedStyle(around).backgroundColor)[0][3] === 0) around = around.parentElement;
  const page = luminance(colours(getComputedStyle(around).backgroundColor)[0]);
  const style = getComputedStyle(mark);
  const painted = [...colours(style.backgroundColor), ...colours(style.boxShadow)];
  return Math.max(...painted.map((c) => {
    const l = luminance(c);
    return (Math.max(l, page) + 0.05) / (Math.min(l, page) + 0.05);
  }));
}"""


def test_the_cited_passages_stand_out_at_3_to_1(page: Page, server: Server) -> None:
    """The cited sentence was marked by a yellow wash alone (1.3:1 on the white article) and the
    answer's other citations by a paler one with a pale underline (1.5:1): below the 3:1 WCAG 1.4.11
    asks of what conveys information, so a low-vision reader could not tell what was cited."""
    page.goto(server.base_url + "/")
    ask(page, FENTANYL_QUESTION)
    last_turn(page).locator('[data-testid="citation"][data-citation-id="1"]').click()
    expect(page.get_by_test_id("highlight").first).to_be_focused()
    page.get_by_test_id("question").focus()  # the focus ring is not what marks it
    marks = page.locator("mark.qa-highlight, mark.qa-faint")
    assert marks.count() >= 2
    ratios = [round(m.evaluate(MARK_CONTRAST), 2) for m in marks.all()]
    assert min(ratios) >= 3, ratios


def test_a_follow_up_sends_the_whole_conversation(page: Page, server: Server, screenshots: Path) -> None:
    requests = chat_requests(page)
    page.goto(server.base_url + "/")
    ask(page, ROBINSON_QUESTION)
    first = last_turn(page).get_by_test_id("answer").text_content()
    ask(page, FOLLOW_UP_QUESTION)
    turn = last_turn(page)
    expect(turn.get_by_test_id("source").first).to_contain_text("delisted")
    assert [sent(r)["messages"] for r in requests] == [
        [{"role": "user", "content": ROBINSON_QUESTION}],
        [
            {"role": "user", "content": ROBINSON_QUESTION},
            {"role": "assistant", "content": first},
            {"role": "user", "content": FOLLOW_UP_QUESTION},
        ],
    ]
    shoot(page, screenshots, "follow-up")


def test_a_long_conversation_sends_only_the_turns_the_chat_route_reads(page: Page, server: Server) -> None:
    """The page sent the whole conversation with every question: a long chat grew each request
    until the body limit refused every question (413). It keeps the last 20 questions and answers,
    more than the route reads (20 earlier questions and the answer just before)."""
    requests = chat_requests(page)
    page.goto(server.base_url + "/")
    questions = [f"What did Blinken say about fentanyl? ({n})" for n in range(22)]
    for question in questions:
        ask(page, question)
        last_turn(page)
    messages = sent(requests[-1])["messages"]
    assert len(messages) == 41
    assert [m["content"] for m in messages if m["role"] == "user"] == questions[-21:]
    assert [m["role"] for m in messages] == ["user", "assistant"] * 20 + ["user"]


def test_a_declined_question_looks_declined(page: Page, server: Server, screenshots: Path) -> None:
    page.goto(server.base_url + "/")
    ask(page, DECLINED_QUESTION)
    turn = last_turn(page)
    expect(turn.get_by_test_id("declined")).to_contain_text("The articles don't cover this")
    expect(turn.get_by_test_id("answer")).to_have_count(0)
    expect(turn.get_by_test_id("citation")).to_have_count(0)
    assert_contrast_aa(page)
    shoot(page, screenshots, "declined")


def test_a_cut_stream_says_so_and_its_retry_answers(page: Page, server: Server, screenshots: Path) -> None:
    """A stream that ends before `data: [DONE]`: the server's own stream, cut before its final chunk
    (a real server cannot be made to cut one on cue)."""
    events = server_events(server, FENTANYL_QUESTION)
    serve_events(page, events[:-4])  # without the last two words, the citations and [DONE]
    page.goto(server.base_url + "/")
    ask(page, FENTANYL_QUESTION)
    error = last_turn(page).get_by_test_id("error")
    expect(error).to_have_attribute("data-error-kind", "cut")
    expect(error).to_contain_text("cut off")
    assert_contrast_aa(page)
    shoot(page, screenshots, "cut-stream")
    page.unroute("**/v1/chat/completions")
    page.get_by_test_id("retry").click()
    expect(last_turn(page).get_by_test_id("citation").first).to_be_visible()
    expect(page.get_by_test_id("question")).to_be_focused()


def test_a_short_answer_is_shown_first_and_opens_its_span(page: Page, server: Server, screenshots: Path) -> None:
    """The service's own short answer, which rides in the first citation: shown above the answer,
    and "Show in the article" highlights exactly its words, after astral characters in the article
    (the UTF-16 offsets). The page read it from a field the server never sends, so it never showed."""
    page.goto(server.base_url + "/")
    page.get_by_test_id("article-picker").select_option(EMOJI_ID)
    ask(page, "When will the bakery open its second shop?")
    turn = last_turn(page)
    expect(turn.locator(":scope > *").first).to_have_attribute("data-testid", "short-answer")
    expect(turn.get_by_test_id("short-answer").locator(".qa-short-text")).to_have_text("March")
    expect(turn.get_by_test_id("answer")).to_have_text(f"{EMOJI_SENTENCE} [1]")  # not "March: The bakery ..."
    turn.get_by_role("button", name="Show in the article").click()
    expect(page.get_by_test_id("highlight")).to_have_text("March", use_inner_text=False)
    shoot(page, screenshots, "short-answer")


def test_a_server_still_loading_then_gone_shows_each_error_with_a_retry(
    page: Page, tmp_path: Path, screenshots: Path
) -> None:
    """A server whose index never loads answers 503; once it is stopped, the network fails."""
    (tmp_path / "a-file").write_text("", encoding="utf-8")  # an index folder inside a file: the load fails
    loading = start_server(SEEDS, tmp_path / "a-file" / "index", ready_path="/healthz")
    try:
        requests = chat_requests(page)
        page.goto(loading.base_url + "/")
        ask(page, FENTANYL_QUESTION)
        error = last_turn(page).get_by_test_id("error")
        expect(error).to_have_attribute("data-error-kind", "not_ready")
        expect(error).to_contain_text("still starting up")
        expect(page.locator("#picker-status")).to_contain_text("isn't available yet")
        assert_contrast_aa(page)
        shoot(page, screenshots, "not-ready")
        page.get_by_test_id("retry").click()
        expect(last_turn(page).get_by_test_id("error")).to_have_attribute("data-error-kind", "not_ready")
        assert len(requests) == 2 and requests[0].post_data_json == requests[1].post_data_json
    finally:
        loading.stop()
    page.get_by_test_id("retry").click()
    expect(last_turn(page).get_by_test_id("error")).to_have_attribute("data-error-kind", "network")
    expect(page.get_by_test_id("error")).to_contain_text("couldn't reach the service")
    shoot(page, screenshots, "network-error")
    ask(page, ROBINSON_QUESTION)  # instead of retrying: the earlier turn can no longer be retried
    expect(page.get_by_test_id("error")).to_have_count(2)
    expect(page.get_by_test_id("retry")).to_have_count(1)


def test_the_picker_shows_an_article_and_scopes_questions_to_it(page: Page, server: Server, screenshots: Path) -> None:
    """The emoji article: highlights use the UTF-16 offsets, so astral characters before and inside
    the cited sentence leave the highlight exactly on the quote."""
    requests = chat_requests(page)
    page.goto(server.base_url + "/")
    page.get_by_test_id("article-picker").select_option(EMOJI_ID)
    expect(page.get_by_test_id("article")).to_contain_text("ferry terminal")
    expect(page.get_by_test_id("highlight")).to_have_count(0)
    ask(page, EMOJI_QUESTION)
    turn = last_turn(page)
    assert sent(requests[0])["doc_ids"] == [EMOJI_ID]
    turn.locator('[data-testid="citation"][data-citation-id="1"]').click()
    start = EMOJI_TEXT.index(EMOJI_SENTENCE)
    highlight = page.get_by_test_id("highlight")
    expect(highlight).to_have_text(EMOJI_TEXT[start : start + len(EMOJI_SENTENCE)], use_inner_text=False)
    shoot(page, screenshots, "emoji-article")


def test_the_picker_lists_every_article_past_the_first_page(page: Page, tmp_path: Path) -> None:
    """`GET /v1/documents` lists 50 articles a page; the picker read the first page only, so of 55
    articles the 5 oldest (the list is newest first) could not be picked."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    first_day = date(2024, 1, 1)
    for day in range(55):
        published = (first_day + timedelta(days=day)).isoformat()
        text = f"The harbour master counted {day + 3} ships in the port on {published}.\n"
        write_article(seeds, f"harbour-{day:02d}", text, f"Harbour report {published}", published_at=published)
    server = start_server(seeds, tmp_path / "index")
    try:
        page.goto(server.base_url + "/")
        picker = page.get_by_test_id("article-picker")
        expect(picker).to_be_enabled()
        newest_first = [f"Harbour report {first_day + timedelta(days=day)}" for day in reversed(range(55))]
        expect(picker.locator("option")).to_have_text(["All articles", *newest_first])
        picker.select_option("harbour-00")  # the oldest, on the list's second page
        expect(page.get_by_test_id("article")).to_contain_text("counted 3 ships")
    finally:
        server.stop()


def test_the_widget_on_the_demo_page_answers_from_its_article(page: Page, server: Server, screenshots: Path) -> None:
    requests = chat_requests(page)
    page.goto(f"{server.base_url}/demo/{EMOJI_ID}")
    expect(page.get_by_role("heading", level=1)).to_have_text(EMOJI_TITLE)
    widget = page.get_by_test_id("widget")
    assert widget.evaluate("host => host.shadowRoot !== null")
    ask(widget, EMOJI_QUESTION)
    turn = last_turn(widget)
    assert sent(requests[0])["doc_ids"] == [EMOJI_ID]
    turn.get_by_test_id("citation").first.click()
    expect(widget.get_by_test_id("highlight")).to_have_text(EMOJI_SENTENCE, use_inner_text=False)
    assert_contrast_aa(page)
    shoot(widget, screenshots, "widget-demo")


def test_the_widget_answers_only_from_its_article(page: Page, server: Server) -> None:
    """Asked about another article's subject, the widget's answer cites its own article or declines."""
    page.goto(f"{server.base_url}/demo/{EMOJI_ID}")
    widget = page.get_by_test_id("widget")
    with page.expect_response("**/v1/chat/completions") as reply:
        ask(widget, FENTANYL_QUESTION)
    last_turn(widget)
    assert {c["doc_id"] for c in citations_of(reply.value.text())} <= {EMOJI_ID}


def test_the_widget_on_another_origin_works_and_keeps_its_styles_apart(
    page: Page, server: Server, newsroom: tuple[str, Path]
) -> None:
    """The host page's loud CSS does not reach the widget, and the widget's does not leak out;
    the API answers the other origin because the server lists it in QA_CORS_ORIGINS."""
    host_page = f"""<!doctype html><html><head><style>
      body {{ color: rgb(200, 0, 0); font-family: serif; }}
      button {{ background: rgb(255, 0, 0); color: rgb(200, 0, 0); }}
    </style></head><body><h1>Our story</h1><button class="qa-ask" id="host-button">Subscribe</button>
    <script src="{server.base_url}/widget.js" data-api="{server.base_url}" data-doc-id="{SEED_ID}"></script>
    </body></html>"""
    origin, folder = newsroom
    (folder / "story.html").write_text(host_page, encoding="utf-8")
    page.goto(origin + "/story.html")
    widget = page.get_by_test_id("widget")
    ask(widget, FENTANYL_QUESTION)
    expect(last_turn(widget).get_by_test_id("citation").first).to_be_visible()
    style = "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"
    assert widget.get_by_test_id("ask").evaluate(style) == ["rgb(255, 255, 255)", "rgb(11, 79, 138)"]
    assert widget.get_by_test_id("answer").evaluate(style)[0] == "rgb(27, 31, 36)"
    assert page.locator("#host-button").evaluate(style) == ["rgb(200, 0, 0)", "rgb(255, 0, 0)"]


# The levels of the page's headings in document order, into open shadow roots (the widget's).
HEADING_LEVELS = """() => {
  const levels = [];
  const walk = (root) => {
    for (const node of root.querySelectorAll("*")) {
      if (/^H[1-6]$/.test(node.tagName)) levels.push(Number(node.tagName[1]));
      if (node.shadowRoot) walk(node.shadowRoot);
    }
  };
  walk(document);
  return levels;
}"""


def test_the_widget_s_headings_follow_on_from_the_article_page_s(page: Page, server: Server) -> None:
    """The widget's title was a paragraph and the article a citation opens in it an h3, so on an
    article page the headings went h1 (the story) to h3, a level skipped (axe: heading-order) for
    readers who move by headings. The widget's title is an h2 now, the article under it an h3."""
    page.goto(f"{server.base_url}/demo/{EMOJI_ID}")
    widget = page.get_by_test_id("widget")
    expect(widget.get_by_role("heading", level=2)).to_have_text("Ask about this story")
    ask(widget, EMOJI_QUESTION)
    last_turn(widget).get_by_test_id("citation").first.click()
    expect(widget.get_by_role("heading", level=3)).to_have_text(EMOJI_TITLE)
    levels = page.evaluate(HEADING_LEVELS)
    assert levels[0] == 1 and all(later - earlier <= 1 for earlier, later in pairwise(levels)), levels


def test_keyboard_only_use_with_visible_focus(page: Page, server: Server) -> None:
    page.goto(server.base_url + "/")
    focused_testid = "() => document.activeElement && document.activeElement.dataset.testid"
    for _ in range(8):
        page.keyboard.press("Tab")
        if page.evaluate(focused_testid) == "question":
            break
    question = page.get_by_test_id("question")
    expect(question).to_be_focused()
    page.keyboard.type(FENTANYL_QUESTION)
    page.keyboard.press("Enter")
    last_turn(page)
    expect(question).to_be_focused()
    for _ in range(12):
        page.keyboard.press("Shift+Tab")
        if page.evaluate(focused_testid) == "citation":
            break
    citation = page.locator(":focus")
    expect(citation).to_have_attribute("data-testid", "citation")
    assert citation.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    assert citation.evaluate("e => parseFloat(getComputedStyle(e).outlineWidth)") >= 2
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("highlight").first).to_be_focused()


@contextlib.contextmanager
def phone(browser: Browser, server: Server, width: int, height: int) -> Iterator[Page]:
    """The chat page at a phone's size, after a first answer."""
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=2)
    try:
        page = context.new_page()
        page.goto(server.base_url + "/")
        ask(page, FENTANYL_QUESTION)
        last_turn(page)
        yield page
    finally:
        context.close()


def test_readable_at_360_pixels(browser: Browser, server: Server, screenshots: Path) -> None:
    with phone(browser, server, 360, 780) as page:
        ask(page, DECLINED_QUESTION)
        last_turn(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert_contrast_aa(page)
        shoot(page, screenshots, "mobile-360")
        page.locator('[data-testid="citation"][data-citation-id="1"]').first.click()
        expect(page.get_by_test_id("highlight").first).to_be_in_viewport()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        shoot(page, screenshots, "mobile-360-article")


BARRIER_ID = "flood-barrier"
BARRIER_QUESTION = "How much will the flood barrier cost?"
BARRIER_SENTENCE = "The barrier will cost 12 million dollars."
BARRIER_TEXT = f"Lakeside approved a flood barrier on Monday. {BARRIER_SENTENCE} Work starts in May.\n"
# The same article corrected: a note before the cited sentence moves it 60-odd characters on.
CORRECTED_TEXT = (
    "Correction: an earlier version of this story gave the wrong day for the vote. "
    f"Lakeside approved a flood barrier on Tuesday. {BARRIER_SENTENCE} Work starts in May.\n"
)
WRITE_KEY = "page-test-key"


@pytest.fixture(scope="module")
def writable_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with a write key, on an article the tests replace: the module's `server` stays as it is."""
    seeds = tmp_path_factory.mktemp("writable-seeds")
    write_article(seeds, BARRIER_ID, BARRIER_TEXT, "Lakeside approves a flood barrier")
    server = start_server(seeds, tmp_path_factory.mktemp("writable-index"), env={"QA_API_KEYS": WRITE_KEY})
    yield server
    server.stop()


def publish(server: Server, doc_id: str, text: str, title: str, **metadata: Any) -> None:
    body = json.dumps({"title": title, "text": text, "metadata": metadata}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {WRITE_KEY}"}
    put = urllib.request.Request(f"{server.base_url}/v1/documents/{doc_id}", body, headers, method="PUT")
    with urllib.request.urlopen(put, timeout=60) as response:
        assert response.status in (200, 201)


def test_a_citation_of_an_article_replaced_since_it_was_opened_highlights_the_new_text(
    page: Page, writable_server: Server
) -> None:
    """The page kept each article it had shown for the whole visit, so once the newsroom replaced
    one (a correction), a new answer's offsets, which index the new text, were laid on the old
    one: the highlight fell on the wrong words, or, past its end, on none."""
    publish(writable_server, BARRIER_ID, BARRIER_TEXT, "Lakeside approves a flood barrier")
    page.goto(writable_server.base_url + "/")
    ask(page, BARRIER_QUESTION)
    last_turn(page).locator('[data-testid="citation"][data-citation-id="1"]').click()
    expect(page.get_by_test_id("highlight")).to_have_text(BARRIER_SENTENCE, use_inner_text=False)

    publish(writable_server, BARRIER_ID, CORRECTED_TEXT, "Lakeside approves a flood barrier")
    ask(page, BARRIER_QUESTION)
    last_turn(page).locator('[data-testid="citation"][data-citation-id="1"]').click()
    expect(page.get_by_test_id("article")).to_contain_text("Correction:")
    expect(page.get_by_test_id("highlight")).to_have_text(BARRIER_SENTENCE, use_inner_text=False)


def test_the_byline_shows_the_date_an_article_was_published(page: Page, writable_server: Server) -> None:
    """The byline read `metadata.published` or `.date`, names the API never gives: an article's
    date is `published_at` (README, Publishing articles), so no byline ever showed one."""
    publish(
        writable_server,
        "harbour-dredging",
        "The harbour will be dredged in spring.\n",
        "Harbour dredging",
        author="Ada Reporter",
        published_at="2026-12-01T23:30:00-05:00",  # 1 December where it was written, whatever the reader's zone
    )
    page.goto(writable_server.base_url + "/")
    page.get_by_test_id("article-picker").select_option("harbour-dredging")
    expect(page.get_by_test_id("article")).to_contain_text("dredged in spring")
    day = page.evaluate(
        "new Date(Date.UTC(2026, 11, 1)).toLocaleDateString(undefined, {dateStyle: 'long', timeZone: 'UTC'})"
    )
    expect(page.locator(".qa-byline")).to_have_text(f"By Ada Reporter · {day}")


def test_a_page_on_another_origin_can_read_the_request_id_and_an_article_s_version(
    page: Page, server: Server, newsroom: tuple[str, Path]
) -> None:
    """CORS let another origin read only the safelisted headers: a newsroom's script saw neither
    the `X-Request-Id` the README says to quote in a report nor the `ETag` a conditional write
    needs (`response.headers.get(...)` was null)."""
    origin, folder = newsroom
    (folder / "blank.html").write_text("<!doctype html><title>newsroom</title>", encoding="utf-8")
    page.goto(origin + "/blank.html")
    read = """async ([api, docId]) => {
      const asked = await fetch(api + "/v1/ask", {method: "POST", headers: {"Content-Type": "application/json",
        "X-Request-Id": "newsroom-123"}, body: JSON.stringify({question: "Who founded the bakery?"})});
      const article = await fetch(api + "/v1/documents/" + docId);
      return [asked.headers.get("X-Request-Id"), article.headers.get("ETag"), asked.headers.get("Server-Timing")];
    }"""
    request_id, version, timing = page.evaluate(read, [server.base_url, EMOJI_ID])
    assert request_id == "newsroom-123"
    assert version and version.startswith('"')
    assert timing and "pipeline;dur=" in timing


REFRESH_GAP = 6_000  # ms: longer than the page waits between two reads of the list of articles


def test_opening_the_picker_lists_an_article_published_since_the_page_loaded(
    page: Page, writable_server: Server
) -> None:
    """The picker read the list of articles once per visit, so an article the newsroom published
    while a reader had the page open never appeared in it. Opening it reads the list again, at
    most once every few seconds, and the reader's choice stays picked."""
    listings: list[str] = []
    page.on("request", lambda r: listings.append(r.url) if urlsplit(r.url).path == "/v1/documents" else None)
    page.clock.install()
    page.goto(writable_server.base_url + "/")
    picker = page.get_by_test_id("article-picker")
    expect(picker).to_be_enabled()
    picker.select_option(BARRIER_ID)
    publish(writable_server, "night-ferry", "A night ferry sails from June.\n", "Night ferry to sail")

    page.clock.fast_forward(REFRESH_GAP)
    picker.click()
    expect(picker.locator("option", has_text="Night ferry to sail")).to_have_count(1)
    expect(picker).to_have_value(BARRIER_ID)
    page.keyboard.press("Escape")
    picker.click()  # again at once: the list just read is recent enough
    expect(picker).to_have_value(BARRIER_ID)
    assert len(listings) == 2


def test_an_earlier_answer_s_citation_after_a_correction_shows_its_quote_and_says_so(
    page: Page, writable_server: Server
) -> None:
    """The first answer's offsets index the article as it was; laid on the corrected text they
    highlighted "eside council approved a flood barrier on", mid-word, with no word of warning."""
    publish(writable_server, BARRIER_ID, BARRIER_TEXT, "Lakeside approves a flood barrier")
    page.goto(writable_server.base_url + "/")
    ask(page, BARRIER_QUESTION)
    last_turn(page)
    first = page.locator(".qa-assistant").first
    publish(writable_server, BARRIER_ID, CORRECTED_TEXT, "Lakeside approves a flood barrier")
    ask(page, BARRIER_QUESTION)
    last_turn(page).locator('[data-testid="citation"][data-citation-id="1"]').click()
    expect(page.get_by_test_id("highlight")).to_have_text(BARRIER_SENTENCE, use_inner_text=False)
    expect(page.get_by_test_id("changed")).to_have_count(0)  # the new answer is of this version
    first.locator('[data-testid="citation"][data-citation-id="1"]').click()
    expect(page.get_by_test_id("changed")).to_contain_text("changed since this answer")
    expect(page.get_by_test_id("highlight")).to_have_text(BARRIER_SENTENCE, use_inner_text=False)


def test_a_new_conversation_drops_the_answer_still_on_its_way(page: Page, server: Server) -> None:
    """ "New conversation" pressed while an answer loaded: the answer, arriving after, made its
    question hidden history of the next one, and questions asked meanwhile were ignored."""
    held: list[Any] = []
    page.route("**/v1/chat/completions", lambda route: held.append(route))
    page.goto(server.base_url + "/")
    ask(page, ROBINSON_QUESTION)
    page.wait_for_function("() => document.querySelector('.qa-status') !== null")
    while not held:
        page.wait_for_timeout(20)
    page.get_by_role("button", name="New conversation").click()
    with contextlib.suppress(Exception):  # the page gave up on it: it may be gone already
        held[0].fulfill(
            status=200,
            headers={"Content-Type": "text/event-stream"},
            body="".join(event + "\n\n" for event in server_events(server, ROBINSON_QUESTION)),
        )
    page.unroute("**/v1/chat/completions")
    requests = chat_requests(page)
    ask(page, FENTANYL_QUESTION)
    expect(last_turn(page).get_by_test_id("citation").first).to_be_visible()
    assert [m["content"] for m in sent(requests[-1])["messages"]] == [FENTANYL_QUESTION]
    expect(page.locator(".qa-question")).to_have_count(1)


def test_the_host_page_s_rules_for_its_elements_do_not_reach_the_widget(
    page: Page, server: Server, newsroom: tuple[str, Path]
) -> None:
    """The host element was a <div>: a page's `div` rule framed it, and what such a rule sets that
    is inherited (upper case, letter spacing, no wrapping) reached every answer."""
    host_page = f"""<!doctype html><html><head><style>
      div {{ text-transform: uppercase; letter-spacing: .3em; white-space: nowrap; padding: 40px;
             border: 5px solid rgb(255, 0, 0); }}
      body {{ text-indent: 3em; text-shadow: 2px 2px red; }}
    </style></head><body><div class="story"><p>Our story</p>
    <script src="{server.base_url}/widget.js" data-api="{server.base_url}" data-doc-id="{SEED_ID}"></script>
    </div></body></html>"""
    origin, folder = newsroom
    (folder / "loud.html").write_text(host_page, encoding="utf-8")
    page.goto(origin + "/loud.html")
    widget = page.get_by_test_id("widget")
    ask(widget, FENTANYL_QUESTION)
    answer = last_turn(widget).get_by_test_id("answer")
    styles = (
        "e => { const s = getComputedStyle(e);"
        " return [s.textTransform, s.letterSpacing, s.whiteSpace, s.textIndent, s.textShadow]; }"
    )
    assert answer.evaluate(styles) == ["none", "normal", "normal", "0px", "none"]
    frame = "e => { const s = getComputedStyle(e); return [s.paddingTop, s.borderTopWidth]; }"
    assert widget.evaluate(frame) == ["0px", "0px"]
    assert page.locator(".story").evaluate(frame) == ["40px", "5px"]  # the page's own div keeps its rule


def test_an_article_s_own_bracketed_number_is_not_a_citation_button(page: Page, writable_server: Server) -> None:
    """Only the markers the service puts after each quote open a citation: the article's own
    "[2]" (a footnote) became a button opening citation 2, another sentence."""
    text = "Tickets cost 15 euros [2] according to the footnote. Organiser Mira Chen said 12,000 visitors came.\n"
    publish(writable_server, "festival", text, "Festival tickets")
    page.goto(writable_server.base_url + "/")
    page.get_by_test_id("article-picker").select_option("festival")
    ask(page, "How much did tickets cost?")
    answer = last_turn(page).get_by_test_id("answer")
    expect(answer).to_contain_text("15 euros [2] according to the footnote.")
    assert answer.get_by_test_id("citation").first.get_attribute("data-citation-id") == "1"


def test_text_in_either_direction_is_laid_out_as_written(page: Page, server: Server) -> None:
    """Nothing set `dir`, so a Hebrew question's question mark stood at its right, beside its
    first word; every piece of reader or article text now takes its direction from itself."""
    page.goto(server.base_url + "/")
    ask(page, "מה אמר בלינקן על פנטניל?")
    last_turn(page)
    assert page.locator(".qa-question").last.get_attribute("dir") == "auto"
    assert page.get_by_test_id("question").get_attribute("dir") == "auto"


def test_on_a_phone_a_finished_answer_is_in_view_from_its_start(browser: Browser, server: Server) -> None:
    """The page, not the conversation, scrolls on a phone, and a new answer began below the screen
    (at y 707-732 of 740): the reader saw only their own question."""
    with phone(browser, server, 375, 740) as page:
        ask(page, ROBINSON_QUESTION)
        top = last_turn(page).evaluate("e => e.getBoundingClientRect().top")
        assert 0 <= top <= 740 / 2, top


def test_a_list_of_authors_reads_as_names(page: Page, writable_server: Server) -> None:
    """The API takes any JSON as `author`: a list of names read "By ['Ana', 'Ben']" on /demo."""
    publish(writable_server, "two-authors", "The ferry returns in spring.\n", "Ferry returns", author=["Ana", "Ben"])
    page.goto(writable_server.base_url + "/demo/two-authors")
    expect(page.locator(".byline")).to_have_text("By Ana, Ben")
    page.goto(writable_server.base_url + "/")
    page.get_by_test_id("article-picker").select_option("two-authors")
    expect(page.locator(".qa-byline")).to_have_text("By Ana, Ben")


def test_a_reload_keeps_the_conversation_and_a_follow_up_builds_on_it(page: Page, server: Server) -> None:
    """A reload (or coming back to the page in the tab) lost the whole conversation: its answers,
    their citations, and the history a follow-up needs to know who "he" is."""
    requests = chat_requests(page)
    errors = console_errors(page)
    page.goto(server.base_url + "/")
    with page.expect_response("**/v1/chat/completions") as reply:
        ask(page, ROBINSON_QUESTION)
    first = last_turn(page).get_by_test_id("answer").text_content()
    citations = citations_of(reply.value.text())

    page.reload()
    expect(page.locator(".qa-question")).to_have_text([ROBINSON_QUESTION])
    restored = page.locator(".qa-assistant")
    expect(restored.get_by_test_id("answer")).to_have_text([first or ""])
    expect(restored.get_by_test_id("source")).to_have_count(len(citations))
    restored.locator('[data-testid="citation"][data-citation-id="1"]').click()
    quote = SEED_TEXT[citations[0]["start"] : citations[0]["end"]]
    expect(page.get_by_test_id("highlight")).to_have_text(quote, use_inner_text=False)
    expect(page.get_by_test_id("highlight")).to_be_focused()

    ask(page, FOLLOW_UP_QUESTION)
    expect(last_turn(page).get_by_test_id("source").first).to_contain_text("delisted")
    assert sent(requests[-1])["messages"] == [
        {"role": "user", "content": ROBINSON_QUESTION},
        {"role": "assistant", "content": first},
        {"role": "user", "content": FOLLOW_UP_QUESTION},
    ]
    page.reload()
    expect(page.locator(".qa-question")).to_have_text([ROBINSON_QUESTION, FOLLOW_UP_QUESTION])

    page.get_by_role("button", name="New conversation").click()
    page.reload()
    expect(page.locator(".qa-empty")).to_be_visible()
    expect(page.locator(".qa-question")).to_have_count(0)
    assert errors == []


def test_a_citation_restored_by_a_reload_still_says_its_article_changed(page: Page, writable_server: Server) -> None:
    """A citation brought back from the tab's storage is the answer's own: after a correction it
    shows its quote where it is now and says the article changed, as it did before the reload."""
    publish(writable_server, BARRIER_ID, BARRIER_TEXT, "Lakeside approves a flood barrier")
    page.goto(writable_server.base_url + "/")
    with page.expect_response("**/v1/chat/completions") as reply:
        ask(page, BARRIER_QUESTION)
    last_turn(page)
    quoted = citations_of(reply.value.text())[0]
    assert quoted["doc_id"] == BARRIER_ID
    # A note above the text: whatever the answer quoted is still there, further on.
    publish(
        writable_server,
        BARRIER_ID,
        "Correction: the vote was on Tuesday.\n" + BARRIER_TEXT,
        "Lakeside approves a flood barrier",
    )
    page.reload()
    page.locator('.qa-assistant [data-testid="citation"][data-citation-id="1"]').click()
    expect(page.get_by_test_id("changed")).to_contain_text("changed since this answer was given; the passage is shown")
    expect(page.get_by_test_id("highlight")).to_have_text(quoted["quote"], use_inner_text=False)


def test_the_widget_keeps_its_own_conversation_for_its_article(page: Page, server: Server) -> None:
    """The widget's conversation comes back when its article page is reloaded, and stays its own:
    not on the chat page, not in the widget of another article."""
    page.goto(f"{server.base_url}/demo/{EMOJI_ID}")
    widget = page.get_by_test_id("widget")
    ask(widget, EMOJI_QUESTION)
    expect(last_turn(widget).get_by_test_id("citation").first).to_be_visible()
    page.reload()
    expect(widget.locator(".qa-question")).to_have_text([EMOJI_QUESTION])
    widget.get_by_test_id("citation").first.click()
    expect(widget.get_by_test_id("highlight")).to_have_text(EMOJI_SENTENCE, use_inner_text=False)

    page.goto(server.base_url + "/")
    expect(page.locator(".qa-empty")).to_be_visible()
    expect(page.locator(".qa-question")).to_have_count(0)
    page.goto(f"{server.base_url}/demo/{SEED_ID}")
    expect(page.get_by_test_id("widget").get_by_test_id("question")).to_be_visible()
    expect(page.get_by_test_id("widget").locator(".qa-question")).to_have_count(0)


# Storage that refuses: full (every write throws), and disabled (reading `sessionStorage` throws).
FULL_STORAGE = """Storage.prototype.setItem = function () {
  throw new DOMException("The quota has been exceeded.", "QuotaExceededError");
};"""
NO_STORAGE = """Object.defineProperty(window, "sessionStorage", {
  configurable: true, get() { throw new DOMException("Access is denied for this document.", "SecurityError"); },
});"""


@pytest.mark.parametrize("storage", [FULL_STORAGE, NO_STORAGE], ids=["full", "disabled"])
def test_storage_that_refuses_does_not_break_the_chat(page: Page, server: Server, storage: str) -> None:
    """The conversation is kept where the tab allows it; where it does not, the chat answers and
    follow-ups go on as before, with no error, and a reload starts afresh."""
    page.add_init_script(storage)
    requests = chat_requests(page)
    errors = console_errors(page)
    page.goto(server.base_url + "/")
    ask(page, ROBINSON_QUESTION)
    expect(last_turn(page).get_by_test_id("citation").first).to_be_visible()
    ask(page, FOLLOW_UP_QUESTION)
    expect(last_turn(page).get_by_test_id("citation").first).to_be_visible()
    assert len(sent(requests[-1])["messages"]) == 3
    page.reload()
    expect(page.locator(".qa-empty")).to_be_visible()
    ask(page, FENTANYL_QUESTION)
    expect(last_turn(page).get_by_test_id("citation").first).to_be_visible()
    assert errors == []


def test_escape_in_the_widget_closes_its_article_and_clears_nothing(page: Page, server: Server) -> None:
    """The widget has no launcher to collapse into: what opens and closes is the article a citation
    shows. Escape in it did nothing (only its close button did); it now closes it and focus goes back to
    the citation followed, the later answer's, not the first "[1]" in the box. Escape in the
    question box while an answer is on its way leaves the typed follow-up and the answer alone."""
    events = server_events(server, EMOJI_QUESTION)
    held: list[Any] = []
    page.route("**/v1/chat/completions", lambda route: held.append(route))
    page.goto(f"{server.base_url}/demo/{EMOJI_ID}")
    widget = page.get_by_test_id("widget")
    ask(widget, EMOJI_QUESTION)
    while not held:
        page.wait_for_timeout(20)
    question = widget.get_by_test_id("question")
    question.fill("Who owns the bakery?")
    question.press("Escape")
    held[0].fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body="".join(e + "\n\n" for e in events))
    page.unroute("**/v1/chat/completions")
    expect(last_turn(widget).get_by_test_id("citation").first).to_be_visible()
    expect(question).to_have_value("Who owns the bakery?")
    expect(widget.locator(".qa-question")).to_have_text([EMOJI_QUESTION])

    widget.get_by_test_id("ask").click()
    citation = last_turn(widget).locator('[data-testid="citation"][data-citation-id="1"]')
    citation.click()
    source = widget.locator(".qa-widget-source")
    expect(source).to_be_visible()
    expect(widget.get_by_test_id("highlight").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(source).to_be_hidden()
    expect(citation).to_be_focused()


def test_the_widget_s_open_article_is_a_named_stop_for_the_keyboard(page: Page, server: Server) -> None:
    """The article a citation opens in the widget scrolls in a box of its own: Chromium gave that
    box a tab stop (so the keyboard can scroll it) but it had no role or name, so a screen reader
    said nothing of where focus had gone. It is a region named "Article", reached by Tab from its close button."""
    page.goto(f"{server.base_url}/demo/{SEED_ID}")
    widget = page.get_by_test_id("widget")
    ask(widget, FENTANYL_QUESTION)
    last_turn(widget).get_by_test_id("citation").first.click()
    expect(widget.get_by_test_id("highlight").first).to_be_focused()
    widget.get_by_role("button", name="Close the source").focus()
    page.keyboard.press("Tab")
    article = widget.get_by_role("region", name="Article", exact=True)
    expect(article).to_be_focused()
    assert article.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    article.evaluate("e => { e.style.scrollBehavior = 'auto'; e.scrollTop = 0; }")
    page.keyboard.press("PageDown")
    page.wait_for_function("e => e.scrollTop > 0", arg=article.element_handle())


def delete(server: Server, doc_id: str) -> None:
    headers = {"Authorization": f"Bearer {WRITE_KEY}"}
    request = urllib.request.Request(f"{server.base_url}/v1/documents/{doc_id}", headers=headers, method="DELETE")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 204


PIER_ID = "pier-closure"
PIER_TEXT = "The old pier will close for repairs in August, the harbour office said.\n"


def test_a_picked_article_deleted_since_is_said_to_be_gone_and_the_scope_goes_back_to_all(
    page: Page, writable_server: Server
) -> None:
    """The article picked was deleted while the page was open: the question got the API's 400
    `unknown_documents`, shown as "The archive holds no document with the id 'pier-closure'.",
    with no way on but to find the picker and pick again, the gone article still in it."""
    publish(writable_server, BARRIER_ID, BARRIER_TEXT, "Lakeside approves a flood barrier")
    publish(writable_server, PIER_ID, PIER_TEXT, "Old pier to close for repairs")
    requests = chat_requests(page)
    errors = console_errors(page)
    page.goto(writable_server.base_url + "/")
    picker = page.get_by_test_id("article-picker")
    expect(picker).to_be_enabled()
    picker.select_option(PIER_ID)
    expect(page.get_by_test_id("article")).to_contain_text("close for repairs")
    delete(writable_server, PIER_ID)

    ask(page, "When will the old pier close?")
    error = last_turn(page).get_by_test_id("error")
    expect(error).to_have_attribute("data-error-kind", "gone")
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_have_text(
        "“Old pier to close for repairs” is no longer available, so questions now go to all articles. "
        "Your question is back in the box: ask it again, or pick another article."
    )
    expect(error.get_by_test_id("retry")).to_have_count(0)  # asking elsewhere is the reader's choice
    expect(picker).to_have_value("")
    expect(picker.locator(f'option[value="{PIER_ID}"]')).to_have_count(0)
    expect(picker.locator(f'option[value="{BARRIER_ID}"]')).to_have_count(1)
    expect(page.get_by_test_id("article")).to_have_count(0)  # the gone article no longer shown
    expect(page.get_by_test_id("question")).to_have_value("When will the old pier close?")
    assert sent(requests[-1])["doc_ids"] == [PIER_ID]

    ask(page, BARRIER_QUESTION)
    expect(last_turn(page).get_by_test_id("citation").first).to_be_visible()
    assert "doc_ids" not in sent(requests[-1])
    assert errors == []


def test_the_widget_of_an_article_deleted_since_says_it_is_gone(page: Page, writable_server: Server) -> None:
    """The widget cannot ask elsewhere (it is its article's): it says the article is gone, in words,
    not the API's "The archive holds no document with the id ...", and offers no retry."""
    publish(writable_server, PIER_ID, PIER_TEXT, "Old pier to close for repairs")
    page.goto(f"{writable_server.base_url}/demo/{PIER_ID}")
    widget = page.get_by_test_id("widget")
    expect(widget.get_by_test_id("question")).to_be_visible()
    delete(writable_server, PIER_ID)
    ask(widget, "When will the old pier close?")
    error = last_turn(widget).get_by_test_id("error")
    expect(error).to_have_attribute("data-error-kind", "gone")
    expect(error).to_have_text("This article is no longer available, so there is nothing to answer from.")
    expect(error.get_by_test_id("retry")).to_have_count(0)
