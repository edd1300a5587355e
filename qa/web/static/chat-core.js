/* article-qa chat: what the page (GET /) and the widget (GET /widget.js) share.
 *
 * streamAnswer()  POST /v1/chat/completions with "stream": true, read as server-sent events.
 * ArticleViewer   an article with cited spans highlighted (UTF-16 offsets: JavaScript strings).
 * ChatBox         the conversation, the question box and every state an answer can end in; the
 *                 conversation is kept in sessionStorage, so a reload shows it and follow-ups go on.
 *
 * Integrators and tests script against the data-testid attributes: keep them stable.
 */
const QaChat = (() => {
  "use strict";

  const DECLINED_TEXT = "The articles do not cover this";
  // Messages of the conversation sent with each question: the chat route reads at most 20 earlier
  // questions (and the answer just before the question), so older turns would only grow every
  // request until a long chat hit the body limit and each question was refused with a 413.
  const KEPT_MESSAGES = 40;
  // Turns (a question and its answer) a reload brings back: those the next question still sends.
  const KEPT_TURNS = KEPT_MESSAGES / 2;
  const STORED_VERSION = 1; // of what sessionStorage holds; another version is left unread

  /** A failure the reader can act on; `kind` picks the message, `retryable` the button. */
  class ChatError extends Error {
    constructor(kind, message, retryable) {
      super(message);
      this.kind = kind;
      this.retryable = retryable;
    }
  }

  const MESSAGES = {
    not_ready: "The service is still starting up. Try again in a moment.",
    network: "We couldn't reach the service. Check your connection and try again.",
    cut: "The answer was cut off before it finished. Try again.",
    broken: "Something went wrong while showing the answer. Try again.",
    gone: "This article is no longer available, so there is nothing to answer from.",
  };

  /** A tiny DOM builder: el("p", {class: "x", "data-testid": "y"}, "text", child). */
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      node.setAttribute(name, value === true ? "" : value);
    }
    node.append(...children.filter((child) => child !== null && child !== undefined));
    return node;
  }

  async function errorOf(response) {
    if (response.status === 503) return new ChatError("not_ready", MESSAGES.not_ready, true);
    let message = `The service answered with an error (${response.status}).`;
    let code = null;
    try {
      const { error } = await response.json();
      message = error.message || message;
      code = error.code;
    } catch (_) {
      /* not our JSON error shape: keep the status line */
    }
    // The question was scoped to an article deleted since: not its words but its scope is wrong.
    if (response.status === 400 && code === "unknown_documents") return new ChatError("gone", MESSAGES.gone, false);
    return new ChatError("http", message, response.status >= 500);
  }

  async function request(url, options) {
    let response;
    try {
      response = await fetch(url, options);
    } catch (_) {
      throw new ChatError("network", MESSAGES.network, true);
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  async function getJson(api, path, options = {}) {
    return (await request(api + path, { headers: { Accept: "application/json" }, ...options })).json();
  }

  /** Ask with the whole conversation; `onText` gets each piece of the answer as it arrives.
   * Resolves to the final chunk's extras: {citations, answerable}. A stream that
   * ends (or breaks) before `data: [DONE]` is a cut stream. */
  async function streamAnswer(api, messages, docIds, onText, signal) {
    const body = { model: "article-qa", messages, stream: true };
    if (docIds && docIds.length) body.doc_ids = docIds;
    const response = await request(api + "/v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal,
    });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const extras = { citations: [], answerable: undefined };
    let buffer = "";
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (_) {
        throw new ChatError("cut", MESSAGES.cut, true);
      }
      if (chunk.done) throw new ChatError("cut", MESSAGES.cut, true);
      buffer += decoder.decode(chunk.value, { stream: true });
      const events = buffer.split("\n\n");
      buffer = events.pop();
      for (const event of events) {
        const data = event.split("\n").filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trim()).join("");
        if (data === "[DONE]") return extras;
        if (!data) continue;
        const delta = (JSON.parse(data).choices || [{}])[0].delta || {};
        if (delta.content) onText(delta.content);
        if (delta.citations) extras.citations = delta.citations;
        if (typeof delta.answerable === "boolean") extras.answerable = delta.answerable;
      }
    }
  }

  /** sessionStorage, or null where reading it throws (storage disabled, a sandboxed frame). */
  function sessionStore() {
    try {
      return window.sessionStorage;
    } catch (_) {
      return null;
    }
  }

  /** Declined: the service says so (`answerable: false`), or, from a server that does not say,
   * an answer with no citations or in the not-covered wording. */
  function isDeclined(text, extras) {
    if (typeof extras.answerable === "boolean") return !extras.answerable;
    return extras.citations.length === 0 || text.trim().startsWith(DECLINED_TEXT);
  }

  /** Split `text` at paragraph ends and span edges: [{paragraph: [{text, span}]}], `span` the
   * strongest span covering the piece ("strong" beats "faint"), offsets in UTF-16 code units. */
  function segments(text, spans) {
    const cuts = new Set([0, text.length]);
    for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) cuts.add(i + 1);
    const clamp = (offset) => Math.max(0, Math.min(text.length, offset));
    for (const span of spans) cuts.add(clamp(span.start)).add(clamp(span.end));
    const points = [...cuts].sort((a, b) => a - b);
    const paragraphs = [[]];
    for (let i = 0; i + 1 < points.length; i++) {
      const [start, end] = [points[i], points[i + 1]];
      const covering = spans.filter((span) => span.start <= start && end <= span.end);
      const span = covering.find((s) => s.strong) || covering[0] || null;
      paragraphs[paragraphs.length - 1].push({ text: text.slice(start, end), span });
      if (text[end - 1] === "\n" && end < text.length) paragraphs.push([]);
    }
    return paragraphs;
  }

  /** Where a citation (or short answer) lies in the article as a JavaScript string: the API's
   * UTF-16 offsets, not its code-point ones (each emoji before a span would shift it by one). */
  function utf16Span(item) {
    const valid = Number.isInteger(item.start_utf16) && Number.isInteger(item.end_utf16);
    const quote = typeof item.quote === "string" ? item.quote : item.text; // a short answer's is `text`
    return valid ? { start: item.start_utf16, end: item.end_utf16, id: item.id, quote } : null;
  }

  /** Whether the article text still holds each span's quote where the answer says: not once the
   * article was replaced (corrected) after the page fetched it, since offsets index the new text. */
  function holdsQuotes(text, spans) {
    return spans.every((span) => typeof span.quote !== "string" || text.slice(span.start, span.end) === span.quote);
  }

  /** The spans laid on the article's text as it is now: each where its offsets say while the text
   * there is still its quote, else where the quote is now (a correction moved it), else left out.
   * `changed` says whether any span was moved or left out: the answer was given from another
   * version of the article, and its offsets would highlight the wrong words. */
  function placedSpans(text, spans) {
    let changed = false;
    const placed = [];
    for (const span of spans) {
      if (typeof span.quote !== "string" || text.slice(span.start, span.end) === span.quote) {
        placed.push(span);
        continue;
      }
      changed = true;
      const start = span.quote ? text.indexOf(span.quote) : -1;
      if (start !== -1) placed.push({ ...span, start, end: start + span.quote.length });
    }
    return { spans: placed, changed };
  }

  /** An author as a byline shows it: a name, or names ("Ana, Ben"); anything else is none. */
  function authorOf(author) {
    if (typeof author === "string") return author.trim() || null;
    if (Array.isArray(author) && author.length && author.every((name) => typeof name === "string")) {
      return author.join(", ");
    }
    return null;
  }

  /** The day of `metadata.published_at` (ISO 8601) as the newsroom wrote it, in the reader's
   * language ("December 1, 2026"): its own date part, not shifted into the reader's time zone. */
  function publishedDay(published) {
    const day = typeof published === "string" && published.match(/^(\d{4})-(\d{2})-(\d{2})/);
    if (!day) return null;
    const date = new Date(Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3])));
    return date.toLocaleDateString(undefined, { dateStyle: "long", timeZone: "UTC" });
  }

  class ArticleViewer {
    constructor(container, api, headingLevel = "h2") {
      this.container = container;
      this.api = api;
      this.headingLevel = headingLevel;
      this.articles = new Map();
    }

    /** The article, fetched once per visit; `fresh` fetches it again (past the browser's cache too). */
    article(docId, fresh = false) {
      if (fresh || !this.articles.has(docId)) {
        const options = fresh ? { cache: "no-store" } : {};
        const loading = getJson(this.api, "/v1/documents/" + encodeURIComponent(docId), options);
        loading.catch(() => this.articles.delete(docId));
        this.articles.set(docId, loading);
      }
      return this.articles.get(docId);
    }

    /** Open the cited article at `citation`; the answer's other citations in it are marked faintly. */
    showCitation(citation, citations) {
      const others = citations.filter((c) => c.doc_id === citation.doc_id && c.id !== citation.id);
      const spans = [citation, ...others].map(utf16Span).filter(Boolean);
      return this.show(citation.doc_id, spans, citation.id);
    }

    /** Show the article; `cited` is [{start, end, id}] in UTF-16 units, `focusId` the one to
     * highlight strongly, scroll to and focus; the others are marked faintly. */
    async show(docId, cited = [], focusId = null) {
      let article;
      try {
        article = await this.article(docId);
        // Replaced since it was fetched: the cited offsets are into its new text, so fetch that.
        if (!holdsQuotes(article.text, cited)) article = await this.article(docId, true);
      } catch (error) {
        const message = el("p", { class: "qa-error", role: "alert", "data-testid": "error" }, error.message);
        this.container.replaceChildren(message);
        return;
      }
      const placed = placedSpans(article.text, cited);
      const spans = placed.spans.map((span) => ({ ...span, strong: span.id === focusId }));
      const body = el("div", { class: "qa-article-text" });
      for (const paragraph of segments(article.text, spans)) {
        body.append(el("p", { dir: "auto" }, ...paragraph.map((piece) => this.piece(piece))));
      }
      const focused = spans.some((span) => span.strong);
      const notice = placed.changed && focusId !== null
        ? el("p", { class: "qa-changed", role: "status", "data-testid": "changed" },
          focused
            ? "This article has changed since this answer was given; the passage is shown where it is now."
            : "This article has changed since this answer was given; the cited passage is no longer in it.")
        : null;
      const meta = article.metadata || {};
      const author = authorOf(meta.author);
      const byline = [author && "By " + author, typeof meta.source === "string" && meta.source,
        publishedDay(meta.published_at)].filter(Boolean).join(" · ");
      const link = typeof meta.url === "string" && /^https?:\/\//.test(meta.url)
        ? el("a", { href: meta.url, class: "qa-original", rel: "noopener" }, "Read the original article")
        : null;
      this.container.replaceChildren(
        el("article", { class: "qa-article", "data-testid": "article", "data-doc-id": docId },
          el(this.headingLevel, { class: "qa-article-title", dir: "auto" }, article.title || docId),
          byline ? el("p", { class: "qa-byline", dir: "auto" }, byline) : null,
          link,
          notice,
          body),
      );
      const first = this.container.querySelector('[data-testid="highlight"]');
      if (first) {
        first.scrollIntoView({ block: "center", behavior: "smooth" });
        first.focus({ preventScroll: true });
      }
    }

    piece({ text, span }) {
      if (!span) return text;
      if (!span.strong) return el("mark", { class: "qa-faint", "data-citation-id": span.id }, text);
      const attributes = {
        class: "qa-highlight", "data-testid": "highlight", "data-citation-id": span.id, tabindex: "-1",
      };
      return el("mark", attributes, text);
    }
  }

  /** The conversation: turns in a labelled region, an announcer (a polite status) that reads
   * each finished answer out once, the question box, and the states an answer ends in
   * (answered, declined, or an error with a retry). `options.scope()` gives the doc ids to ask
   * about (empty: all); `options.onCitation(citation, citations, button)` follows a citation;
   * `options.onScopeGone(docIds, question)` hears that the article a question was scoped to is
   * gone (deleted since) and may return what to tell the reader instead of MESSAGES.gone. With `options.storageKey`, the answered turns are kept in sessionStorage under it and shown
   * again when the page is loaded again in that tab. */
  class ChatBox {
    constructor(root, api, options) {
      this.api = api;
      this.options = options;
      this.turns = []; // answered turns, {question, answer, citations, answerable}: the conversation
      this.busy = false;
      this.epoch = 0; // a new conversation drops whatever the one before still had in flight
      this.inFlight = null;
      const id = options.inputId || "qa-question";
      // The conversation is not a live region: an answer streams into it word by word, and a live
      // region there had screen readers read each piece, or (where they wait out aria-busy)
      // nothing, as the finished answer was laid in before the region stopped being busy. What is
      // read out goes to the announcer instead, once: "Searching…", then the finished answer.
      this.log = el("div", { class: "qa-log", role: "region", "aria-label": "Conversation" });
      this.announcer = el("p", {
        class: "qa-visually-hidden", role: "status", "aria-live": "polite", "aria-atomic": "true",
        "data-testid": "announcer",
      });
      this.input = el("input", {
        id, type: "text", class: "qa-input", "data-testid": "question", maxlength: "1000", autocomplete: "off", dir: "auto",
        required: true, placeholder: options.placeholder || "Ask a question about the news",
      });
      this.button = el("button", { type: "submit", class: "qa-ask", "data-testid": "ask" }, "Ask");
      this.form = el("form", { class: "qa-form" },
        el("label", { for: id, class: "qa-label" }, options.label || "Your question"),
        el("div", { class: "qa-row" }, this.input, this.button));
      this.form.addEventListener("submit", (event) => {
        event.preventDefault();
        const question = this.input.value.trim();
        if (!question || this.busy) return;
        this.input.value = "";
        this.input.focus();
        this.ask(question);
      });
      root.append(this.log, this.announcer, this.form);
      this.clear();
      this.restore();
    }

    /** A new conversation: the one before is dropped, from the tab's storage too. */
    reset() {
      this.clear();
      this.store();
    }

    clear() {
      this.epoch += 1;
      if (this.inFlight) this.inFlight.abort();
      this.inFlight = null;
      this.setBusy(false);
      this.turns = [];
      this.announce("");
      this.log.replaceChildren();
      if (this.options.emptyText) this.log.append(el("p", { class: "qa-empty" }, this.options.emptyText));
    }

    /** The messages sent before a new question: each answered turn's, the last KEPT_MESSAGES. */
    history() {
      return this.turns.flatMap((turn) => [
        { role: "user", content: turn.question },
        { role: "assistant", content: turn.answer },
      ]).slice(-KEPT_MESSAGES);
    }

    /** Keep the answered turns in the tab's storage (none: forget them). Storage that refuses
     * (full, disabled, private mode) costs the reader only the reload: the chat carries on, and
     * an older copy is dropped rather than brought back without the turns after it. */
    store() {
      const storage = this.options.storageKey && sessionStore();
      if (!storage) return;
      try {
        if (this.turns.length) {
          storage.setItem(this.options.storageKey, JSON.stringify({ version: STORED_VERSION, turns: this.turns }));
        } else {
          storage.removeItem(this.options.storageKey);
        }
      } catch (_) {
        try {
          storage.removeItem(this.options.storageKey);
        } catch (_) {
          /* nothing kept, nothing to drop */
        }
      }
    }

    /** Show the turns the tab kept, as they were answered: their citations open the article as a
     * fresh answer's do (read again, and "changed" if it was replaced since). Storage that cannot
     * be read, or holds what no answer looks like, is a conversation not kept. */
    restore() {
      const storage = this.options.storageKey && sessionStore();
      if (!storage) return;
      let turns;
      try {
        const kept = JSON.parse(storage.getItem(this.options.storageKey));
        if (!kept || kept.version !== STORED_VERSION || !Array.isArray(kept.turns)) return;
        turns = kept.turns.filter((turn) => turn && typeof turn.question === "string" &&
          typeof turn.answer === "string" && Array.isArray(turn.citations)).slice(-KEPT_TURNS);
        if (!turns.length) return;
        this.log.replaceChildren();
        for (const { question, answer, citations, answerable } of turns) {
          this.renderAnswer(this.newTurn(question), answer, { citations, answerable });
        }
      } catch (_) {
        this.clear(); // half shown: show none of it
        return;
      }
      this.turns = turns;
      this.scrollToEnd();
    }

    /** Post the question with the conversation so far; the turn is kept only once answered. */
    async ask(question) {
      // An earlier failed turn is left behind: retrying it now would answer out of order.
      this.log.querySelectorAll(".qa-empty, .qa-retry").forEach((node) => node.remove());
      await this.answer(question, this.newTurn(question));
    }

    /** The question's bubble in the log, and the empty turn its answer goes in (returned). */
    newTurn(question) {
      const turn = el("div", { class: "qa-turn qa-assistant" });
      this.log.append(el("div", { class: "qa-turn qa-user" }, el("p", { class: "qa-question", dir: "auto" }, question)), turn);
      return turn;
    }

    async answer(question, turn) {
      const messages = [...this.history(), { role: "user", content: question }];
      const scope = this.options.scope();
      const epoch = this.epoch;
      const inFlight = new AbortController();
      this.inFlight = inFlight;
      const text = el("p", { class: "qa-answer qa-streaming", "data-testid": "answer", dir: "auto" });
      const status = el("p", { class: "qa-status" }, "Searching the articles…");
      turn.replaceChildren(status, text);
      this.announce(status.textContent);
      this.setBusy(true);
      let answer = "";
      try {
        const extras = await streamAnswer(this.api, messages, scope, (piece) => {
          answer += piece;
          status.remove();
          text.textContent = answer;
          this.scrollToEnd();
        }, inFlight.signal);
        if (epoch !== this.epoch) return; // a new conversation began meanwhile: this turn is not in it
        this.renderAnswer(turn, answer, extras);
        this.announce(this.spoken(turn));
        const kept = { question, answer, citations: extras.citations, answerable: extras.answerable };
        this.turns = [...this.turns, kept].slice(-KEPT_TURNS);
        this.store();
      } catch (error) {
        if (epoch !== this.epoch) return;
        if (!(error instanceof ChatError)) console.error(error); // a malformed event, or a bug of ours
        let failure = error instanceof ChatError ? error : new ChatError("broken", MESSAGES.broken, true);
        if (failure.kind === "gone" && this.options.onScopeGone) {
          const message = this.options.onScopeGone(scope, question);
          if (message) failure = new ChatError("gone", message, false);
        }
        this.announce(""); // the error itself is an alert, read out as it appears
        this.renderError(turn, failure, () => this.answer(question, turn));
      } finally {
        if (epoch === this.epoch) {
          this.inFlight = null;
          this.setBusy(false);
          this.reveal(turn);
        }
      }
    }

    setBusy(busy) {
      this.busy = busy;
      this.log.setAttribute("aria-busy", String(busy));
      this.button.setAttribute("aria-disabled", String(busy));
    }

    /** Say `text` once through the announcer (empty: nothing, and the next text is news again). */
    announce(text) {
      this.announcer.textContent = text;
    }

    /** What a screen reader hears of a finished turn: the short answer, the answer and how many
     * sources it has, or the declined message; not the quotes, which the sources list holds. */
    spoken(turn) {
      const declined = turn.querySelector('[data-testid="declined"]');
      if (declined) return [...declined.children].map((p) => p.textContent).join(" ");
      const short = turn.querySelector(".qa-short-text");
      const answer = turn.querySelector('[data-testid="answer"]');
      const sources = turn.querySelectorAll('[data-testid="source"]').length;
      return [short && `Short answer: ${short.textContent}.`, answer && answer.textContent,
        sources && (sources === 1 ? "1 source, listed below the answer." : `${sources} sources, listed below the answer.`)]
        .filter(Boolean).join(" ");
    }

    scrollToEnd() {
      this.log.scrollTop = this.log.scrollHeight;
    }

    /** Show a finished turn from its start. Where the conversation scrolls itself, its question
     * goes to the top (scrolled to the end, a long answer showed only its sources, the short
     * answer above them out of view). Where the page scrolls instead (the chat page on a phone),
     * the page moves just enough to show the answer, its top first if it is taller than the
     * screen: the answer began below the screen, and a host page around the widget must not jump
     * when the answer is in view already. */
    reveal(turn) {
      const question = turn.previousElementSibling;
      const top = question && question.classList.contains("qa-user") ? question : turn;
      if (this.log.scrollHeight > this.log.clientHeight + 1) {
        this.log.scrollTop += top.getBoundingClientRect().top - this.log.getBoundingClientRect().top;
      } else {
        turn.scrollIntoView({ block: "nearest" });
      }
    }

    renderAnswer(turn, answer, extras) {
      if (isDeclined(answer, extras)) {
        turn.replaceChildren(el("div", { class: "qa-declined", "data-testid": "declined" },
          el("p", { class: "qa-declined-title" }, "The articles don't cover this"),
          el("p", {}, "No passage in the articles answers that question, so there is no answer to show. " +
            "Try asking it another way, or about something the articles report.")));
        return;
      }
      const citations = extras.citations;
      const byId = new Map(citations.map((citation) => [String(citation.id), citation]));
      // A fact question's short answer rides in its first citation, as in /v1/ask; the answer
      // text opens with it, which the box above the answer says already.
      const short = citations.length && citations[0].short_answer && citations[0].short_answer.text
        ? citations[0].short_answer : null;
      const shown = short && answer.startsWith(short.text + ": ") ? answer.slice(short.text.length + 2) : answer;
      const text = el("p", { class: "qa-answer", "data-testid": "answer", dir: "auto" });
      // A marker is the service's only where it follows its citation's quote: an article's own
      // "[2]" (a footnote) inside a quote is text, not a button opening another citation.
      let from = 0;
      for (const match of shown.matchAll(/\[(\d+)\]/g)) {
        const citation = byId.get(match[1]);
        if (!citation || !shown.slice(0, match.index).trimEnd().endsWith(citation.quote.trim())) continue;
        text.append(shown.slice(from, match.index), this.marker(citation, citations));
        from = match.index + match[0].length;
      }
      text.append(shown.slice(from));
      const parts = [text, this.sources(citations)];
      if (short) parts.unshift(this.shortAnswer(short, citations));
      turn.replaceChildren(...parts);
    }

    marker(citation, citations) {
      const button = el("button", {
        type: "button", class: "qa-cite", "data-testid": "citation", "data-citation-id": citation.id,
        "aria-label": `Source ${citation.id}: ${this.title(citation)}`,
      }, `[${citation.id}]`);
      button.addEventListener("click", () => this.options.onCitation(citation, citations, button));
      return button;
    }

    shortAnswer(short, citations) {
      const button = el("button", { type: "button", class: "qa-short-link" }, "Show in the article");
      button.addEventListener("click", () => this.options.onCitation({ ...short, id: "short" }, citations, button));
      return el("div", { class: "qa-short", "data-testid": "short-answer" },
        el("p", { class: "qa-short-label" }, "Short answer"),
        el("p", { class: "qa-short-text", dir: "auto" }, short.text), button);
    }

    /** The citations as a list of quotes; with one article, its title once above them. */
    sources(citations) {
      const articles = new Set(citations.map((citation) => citation.doc_id));
      const heading = articles.size === 1 ? "Sources in “" + this.title(citations[0]) + "”" : "Sources";
      const list = el("ol", { class: "qa-sources", "aria-label": heading });
      for (const citation of citations) {
        const attributes = {
          type: "button", class: "qa-source", "data-testid": "source", "data-citation-id": citation.id,
        };
        const button = el("button", attributes,
          el("span", { class: "qa-source-id" }, `[${citation.id}]`),
          el("span", { class: "qa-source-body" },
            articles.size > 1 ? el("span", { class: "qa-source-title" }, this.title(citation)) : null,
            el("span", { class: "qa-source-quote", dir: "auto" }, "“" + citation.quote.trim() + "”")));
        button.addEventListener("click", () => this.options.onCitation(citation, citations, button));
        list.append(el("li", {}, button));
      }
      return el("div", { class: "qa-sources-box" }, el("p", { class: "qa-sources-heading" }, heading), list);
    }

    title(citation) {
      return citation.title || this.options.titleOf(citation.doc_id) || citation.doc_id;
    }

    renderError(turn, error, retry) {
      const box = el("div", { class: "qa-error", role: "alert", "data-testid": "error", "data-error-kind": error.kind },
        el("p", {}, error.message));
      if (error.retryable) {
        const button = el("button", { type: "button", class: "qa-retry", "data-testid": "retry" }, "Try again");
        button.addEventListener("click", () => {
          if (this.busy) return;
          this.input.focus(); // the button is about to be replaced
          retry();
        });
        box.append(button);
      }
      turn.replaceChildren(box);
    }
  }

  return { ArticleViewer, ChatBox, getJson, el };
})();
