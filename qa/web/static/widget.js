/* The embeddable chat box. /widget.js runs this after chat-core.js, inside one closure, with the
 * stylesheets in WIDGET_CSS. It renders where its <script> tag is, in a shadow root so that the
 * host page's CSS and ours never meet:
 *
 *   <script src="https://HOST/widget.js" data-api="https://HOST" data-doc-id="ARTICLE"></script>
 *
 * data-api defaults to the script's own origin; without data-doc-id it asks about all articles.
 */
const { ArticleViewer, ChatBox, el } = QaChat;
const script = document.currentScript;
const api = (script.dataset.api || new URL(script.src).origin).replace(/\/$/, "");
const docId = script.dataset.docId || "";

// Not a <div>: a host page's rules for `div` (padding, borders, text-transform...) styled the box
// and, inherited, everything in it.
const host = el("article-qa-widget", { class: "article-qa-widget", "data-testid": "widget" });
script.parentNode.insertBefore(host, script);
const shadow = host.attachShadow({ mode: "open" }); // open: integrators and tests reach the data-testid hooks

const chatRoot = el("div", { class: "qa-chat" });
// It scrolls, so a keyboard reaches it (Chromium made it a stop of its own, with no name: a screen
// reader said nothing of what it was); a named region, a tab stop in every browser.
const sourceText = el("div", { class: "qa-widget-source-text", role: "region", "aria-label": "Article", tabindex: "0" });
const close = el("button", { type: "button", class: "qa-close", "aria-label": "Close the source" }, "×");
const source = el("div", { class: "qa-widget-source", hidden: true },
  el("div", { class: "qa-widget-source-bar" }, el("p", {}, "In the article"), close),
  sourceText);
const subtitle = el("p", { class: "qa-widget-subtitle" },
  docId ? "Answers from this article, with sources" : "Answers from our articles, with sources");
shadow.append(
  el("style", {}, WIDGET_CSS),
  el("div", { class: "qa-reset" },
    el("section", { class: "qa qa-widget", "aria-label": docId ? "Ask about this article" : "Ask about our articles" },
      el("header", { class: "qa-widget-header" },
        // A heading, a level below the article page's own title: the article a citation opens
        // (h3) came straight after the page's h1, a level skipped for those who read by headings.
        el("h2", { class: "qa-widget-title" }, docId ? "Ask about this story" : "Ask about our stories"), subtitle),
      chatRoot, source)));

const viewer = new ArticleViewer(sourceText, api, "h3");
let title = null;
if (docId) viewer.article(docId).then((article) => { title = article.title; }, () => {});

// What opened the article (a citation, a source, "Show in the article"): closing it goes back
// there. Not the first marker with its number: each answer numbers its citations from 1.
let opener = null;
function closeSource() {
  source.hidden = true;
  (opener && opener.isConnected ? opener : chat.input).focus();
}
close.addEventListener("click", closeSource);
// Escape inside the open article closes it, as its × does. The key was the reader's word to the
// widget: a dialog of the host page around it is not closed with it.
source.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || source.hidden) return;
  event.preventDefault();
  event.stopPropagation();
  closeSource();
});

const chat = new ChatBox(chatRoot, api, {
  scope: () => (docId ? [docId] : []),
  titleOf: (id) => (id === docId ? title : null),
  label: "Your question",
  inputId: "qa-widget-question",
  placeholder: "What would you like to know?",
  // Kept in the host page's tab, apart for each article page, article and service: a reload of the
  // article page shows the conversation again; the chat page and other widgets keep theirs.
  storageKey: `article-qa:conversation:widget:${location.pathname}:${docId}:${api}`,
  onCitation: (citation, citations, button) => {
    opener = button;
    source.hidden = false;
    viewer.showCitation(citation, citations);
  },
});
