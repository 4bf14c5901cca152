// The composer's media checks and "What the labeller will see" panel.
//
// Media checks: each preview lists, in #media-checks[data-pending], the media URLs the server
// knows nothing of yet. They are asked for here one at a time (GET /compose/media-check/),
// off the typing preview's path; the server caches each answer, and one more preview
// ("media:checked" on the form) turns the answers into warnings next to their fields. A URL
// is asked for at most once per page, so a cache that forgets cannot loop.
//
// Labeller panel: the server draws the tools, the palette and the questions (with, per
// question, when it is asked for each label: the "When is it asked?" matrix); clicking a label
// here shows the questions that label gets. The media is drawn here, only when its URL changes.
// No inline scripts or styles: the Content-Security-Policy forbids them.
(function () {
  "use strict";

  var asked = {};
  var queue = [];
  var running = false;
  var answered = false;
  var selected = null;
  var shownMedia = null;

  function form() { return document.getElementById("compose-form"); }

  function pending() {
    var box = document.getElementById("media-checks");
    if (!box || !box.dataset.pending) return;
    var list;
    try { list = JSON.parse(box.dataset.pending); } catch (e) { return; }
    if (!Array.isArray(list)) return;
    list.forEach(function (pair) {
      var key = pair[0] + " " + pair[1];
      if (asked[key]) return;
      asked[key] = true;
      queue.push({ kind: pair[0], url: pair[1], url_base: box.dataset.checkUrl, tries: 0 });
    });
    next();
  }

  function next() {
    if (running) return;
    var item = queue.shift();
    if (!item) {
      if (answered) {
        answered = false;
        var f = form();
        if (f) f.dispatchEvent(new CustomEvent("media:checked"));
      }
      return;
    }
    running = true;
    var url = item.url_base + "?kind=" + encodeURIComponent(item.kind) + "&url=" + encodeURIComponent(item.url);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (response) {
      if (response.status === 429 && item.tries < 3) {
        // The fetch quota is shared with the image proxy: wait as told, then ask again.
        item.tries += 1;
        var wait = Math.min(30, parseInt(response.headers.get("Retry-After") || "2", 10) || 2);
        queue.unshift(item);
        return new Promise(function (resolve) { setTimeout(resolve, wait * 1000); });
      }
      if (response.ok) answered = true;
      return null;
    }).catch(function () { /* offline: the next preview lists it again only on a new page */ })
      .then(function () { running = false; next(); });
  }

  // ---- the labeller panel ----------------------------------------------------------------
  function applySelection() {
    var view = document.getElementById("labeller-view");
    if (!view) return;
    var buttons = view.querySelectorAll(".palette-label");
    var found = false, shownName = selected;
    Array.prototype.forEach.call(buttons, function (button) {
      var on = selected !== null && button.dataset.label === selected;
      if (on) { found = true; shownName = button.textContent; }
      button.setAttribute("aria-pressed", on ? "true" : "false");
    });
    if (!found) selected = null;
    var shown = 0;
    var labels = [];
    try { labels = JSON.parse(view.dataset.labels || "[]") || []; } catch (e) { labels = []; }
    var index = selected !== null ? labels.indexOf(selected) : -1;
    var questions = view.querySelectorAll(".question");
    Array.prototype.forEach.call(questions, function (question) {
      var condition = question.querySelector(".question-condition");
      // One letter per label (a: always, c: under the note's condition, n: never); none when
      // the server skipped the table, and then every question is shown.
      var letter = index >= 0 ? (question.dataset.states || "").charAt(index) : "";
      question.hidden = letter === "n";
      question.classList.toggle("is-conditional", letter === "c");
      if (condition) condition.textContent = letter === "c" ? "— asked only " + (question.dataset.note || "under conditions") : "";
      if (!question.hidden) shown += 1;
    });
    var none = document.getElementById("labeller-none");
    if (none) none.hidden = !(selected !== null && questions.length && !shown);
    var hint = document.getElementById("labeller-hint");
    if (hint && questions.length) {
      hint.textContent = selected === null
        ? "Click a label to see the questions asked for it, in the order they are asked."
        : "An annotation labelled “" + shownName + "” is asked " + shown + " of " + questions.length + " question" + (questions.length === 1 ? "" : "s") + ":";
    }
  }

  function httpUrl(value) { return /^https?:\/\/\S+$/i.test(value || ""); }

  function renderMedia() {
    var box = document.getElementById("labeller-media");
    var f = form();
    if (!box || !f) return;
    var attachment = ((document.getElementById("id_attachment") || {}).value || "").trim();
    var frames = ((document.getElementById("id_attachments") || {}).value || "").split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
    var video = f.dataset.taskType !== "segmentannotation" && attachment && !frames.length;
    var url = frames.length ? frames[0] : attachment;
    var key = (video ? "video " : "image ") + url;
    if (key === shownMedia) return;
    shownMedia = key;
    box.textContent = "";
    var node;
    if (!url) {
      node = document.createElement("p");
      node.className = "muted";
      node.textContent = "The attachment appears here.";
    } else if (!httpUrl(url)) {
      node = document.createElement("p");
      node.className = "help";
      node.textContent = "Scale shows " + url + " to the labeller; it cannot be shown here.";
    } else if (video) {
      node = document.createElement("video");
      node.controls = true; node.muted = true; node.preload = "metadata";
      node.src = url;
    } else {
      node = document.createElement("img");
      node.alt = frames.length ? "First frame, as the labeller sees it" : "The image, as the labeller sees it";
      node.src = url;
    }
    box.appendChild(node);
    if (frames.length > 1) {
      var note = document.createElement("p");
      note.className = "help";
      note.textContent = "Frame 1 of " + frames.length + ".";
      box.appendChild(note);
    }
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("#labeller-view .palette-label");
    if (!button) return;
    selected = button.dataset.label === selected ? null : button.dataset.label;
    applySelection();
  });
  // The panel arrives out of band with every preview, unselected: choose the label again in the
  // same task as the swap, so neither the person nor a test ever sees it without (htmx settles
  // ~20 ms later, which left a window where every question showed).
  document.addEventListener("htmx:oobAfterSwap", function (e) {
    if (e.target && (e.target.id === "labeller-view" || (e.target.querySelector && e.target.querySelector("#labeller-view")))) {
      applySelection();
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    pending();
    applySelection();
    renderMedia();
  });
  // Not on every keystroke: a URL typed a character at a time would load each prefix of it.
  // After each preview (debounced by the form's trigger) and on change is often enough.
  document.addEventListener("change", function (e) {
    if (e.target && (e.target.id === "id_attachment" || e.target.id === "id_attachments")) renderMedia();
  });
  document.addEventListener("DOMContentLoaded", renderMedia);
})();
