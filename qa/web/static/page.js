/* The chat page (GET /): the article picker, the conversation and the article viewer side by side. */
(() => {
  "use strict";
  const { ArticleViewer, ChatBox, getJson, el } = QaChat;
  const api = new URL(".", document.baseURI).href.replace(/\/$/, "");
  const picker = document.getElementById("article-picker");
  const pickerStatus = document.getElementById("picker-status");
  const articlePane = document.getElementById("article");
  const placeholder = articlePane.innerHTML;
  const titles = new Map();
  const viewer = new ArticleViewer(articlePane, api, "h2");

  function scope() {
    return picker.value ? [picker.value] : [];
  }

  const chat = new ChatBox(document.getElementById("chat"), api, {
    scope,
    onCitation: (citation, citations) => viewer.showCitation(citation, citations),
    onScopeGone: dropDeleted,
    titleOf: (docId) => titles.get(docId),
    label: "Your question",
    inputId: "question",
    emptyText: "Ask anything the articles report, for example: “What did Blinken say about fentanyl?”",
    // Per tab and per page: a widget on another path of this origin keeps its own.
    storageKey: "article-qa:conversation:page:" + location.pathname,
  });

  function showPicked() {
    if (picker.value) viewer.show(picker.value);
    else articlePane.innerHTML = placeholder;
  }

  // Pages of the article list (50 articles each, newest first) the picker reads at most: past
  // 1,000 articles a drop-down is no way to find one, and the page would wait on ever more requests;
  // the oldest are the ones left out.
  const MAX_PAGES = 20;

  /** The archive's articles in the API's order, following `next_cursor` page after page. */
  async function listArticles() {
    const documents = [];
    let path = "/v1/documents";
    for (let page = 0; path && page < MAX_PAGES; page++) {
      const { documents: more, next_cursor: next } = await getJson(api, path);
      documents.push(...more);
      path = next && `/v1/documents?cursor=${encodeURIComponent(next)}`;
    }
    return documents;
  }

  // The newsroom publishes all day: opening the picker reads the list again, but not more often
  // than this (ms), since focusing it and pressing on it are two events of one opening.
  const REFRESH_GAP = 5000;
  let listedAt = -Infinity;

  /** Fill the picker with the archive's articles, keeping the reader's choice. A failed first read
   * offers a retry; a failed later one keeps the list as it was, read again at the next opening. */
  async function loadArticles() {
    listedAt = Date.now();
    if (picker.disabled) pickerStatus.replaceChildren();
    try {
      const documents = await listArticles(); // all pages before any option: a retry starts clean
      const picked = picker.selectedOptions[0];
      const options = documents.map((doc) => {
        titles.set(doc.doc_id, doc.title);
        return el("option", { value: doc.doc_id }, doc.title || doc.doc_id);
      });
      // Deleted since (or past the pages read): still what the reader asks about until they pick again.
      if (picked.value && !documents.some((doc) => doc.doc_id === picked.value)) options.push(picked);
      picker.replaceChildren(picker.options[0], ...options);
      picker.value = picked.value;
      picker.disabled = false;
    } catch (error) {
      if (!picker.disabled) return;
      const retry = el("button", { type: "button", class: "qa-retry" }, "Try again");
      retry.addEventListener("click", loadArticles);
      pickerStatus.replaceChildren(el("span", {}, "The list of articles isn't available yet. "), retry);
    }
  }

  function refreshArticles() {
    if (!picker.disabled && Date.now() - listedAt >= REFRESH_GAP) loadArticles();
  }

  /** The article picked was deleted while the page was open (the question asked about it got a
   * 400 `unknown_documents`): say so in plain words, go back to all articles, list them afresh,
   * and give the question back to ask again. Not asked again by itself: an answer from other
   * articles is not what the reader asked for, so they choose. */
  function dropDeleted(docIds, question) {
    if (!docIds.length) return null;
    const title = titles.get(docIds[0]) || docIds[0];
    const picked = docIds.includes(picker.value);
    for (const option of [...picker.options]) if (option.value && docIds.includes(option.value)) option.remove();
    for (const docId of docIds) viewer.articles.delete(docId); // an earlier citation of it now says it is gone
    if (picked) {
      picker.value = "";
      showPicked();
    }
    loadArticles();
    if (!chat.input.value) chat.input.value = question;
    const scope = picked ? ", so questions now go to all articles" : "";
    return `“${title}” is no longer available${scope}. Your question is back in the box: ` +
      "ask it again, or pick another article.";
  }

  picker.addEventListener("change", showPicked);
  picker.addEventListener("focus", refreshArticles);
  picker.addEventListener("pointerdown", refreshArticles);
  document.getElementById("new-conversation").addEventListener("click", () => {
    chat.reset();
    chat.input.focus();
  });
  loadArticles();
})();
