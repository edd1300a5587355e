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
    titleOf: (docId) => titles.get(docId),
    label: "Your question",
    inputId: "question",
    emptyText: "Ask anything the articles report, for example: “What did Blinken say about fentanyl?”",
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

  async function loadArticles() {
    pickerStatus.replaceChildren();
    try {
      const documents = await listArticles(); // all pages before any option: a retry starts clean
      for (const doc of documents) {
        titles.set(doc.doc_id, doc.title);
        picker.append(el("option", { value: doc.doc_id }, doc.title || doc.doc_id));
      }
      picker.disabled = false;
    } catch (error) {
      const retry = el("button", { type: "button", class: "qa-retry" }, "Try again");
      retry.addEventListener("click", loadArticles);
      pickerStatus.replaceChildren(el("span", {}, "The list of articles isn't available yet. "), retry);
    }
  }

  picker.addEventListener("change", showPicked);
  document.getElementById("new-conversation").addEventListener("click", () => {
    chat.reset();
    chat.input.focus();
  });
  loadArticles();
})();
