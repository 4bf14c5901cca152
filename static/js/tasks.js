// The status table's selection and live rows, and the task page's live timeline.
// Live refresh swaps single cells and slides new tasks' rows in on top; it
// never re-renders rows the page shows, so what the user is doing (checked
// boxes, focus, scroll, typed filters) is left alone.
(function () {
  "use strict";

  function picks() { return document.querySelectorAll("input.pick"); }

  function updateSelection() {
    var n = 0;
    picks().forEach(function (el) { if (el.checked) n += 1; });
    var label = document.getElementById("selected-count");
    if (label) label.textContent = n + " selected";
    document.querySelectorAll("[data-needs-selection]").forEach(function (b) { b.disabled = n === 0; });
    var all = document.getElementById("select-all");
    if (all) {
      all.checked = n > 0 && n === picks().length;
      all.indeterminate = n > 0 && n < picks().length;
    }
  }

  // At phone width the filters fold behind a button (CSS shows the button there only).
  function bindFilters() {
    var button = document.getElementById("filters-button");
    var filters = document.getElementById("task-filters");
    if (!button || !filters || filters.dataset.bound) return;
    filters.dataset.bound = "1";
    filters.classList.add("foldable");
    button.addEventListener("click", function () {
      var open = !filters.classList.contains("open");
      filters.classList.toggle("open", open);
      button.setAttribute("aria-expanded", String(open));
      if (open) { var first = filters.querySelector("input, select"); if (first) first.focus(); }
    });
  }

  function bindTable() {
    var all = document.getElementById("select-all");
    if (all && !all.dataset.bound) {
      all.dataset.bound = "1";
      all.addEventListener("change", function () {
        picks().forEach(function (el) { el.checked = all.checked; });
        updateSelection();
      });
    }
    document.addEventListener("change", function (e) {
      if (e.target && e.target.classList && e.target.classList.contains("pick")) updateSelection();
    });
    updateSelection();
  }

  // The poll answers with <template>s inside #task-live: rows of tasks created
  // since, and cells of rows that changed. A cell whose row this page does not
  // show (another page, another filter) is dropped quietly.
  function applyPoll() {
    var live = document.getElementById("task-live");
    var body = document.getElementById("task-rows");
    if (!live || !body) return;
    var rows = live.querySelector("template[data-new-rows]");
    if (rows) {
      var fresh = [];
      Array.prototype.forEach.call(rows.content.children, function (tr) {
        if (!document.getElementById(tr.id)) fresh.push(tr);
      });
      var first = body.firstChild;
      fresh.forEach(function (tr) { body.insertBefore(tr, first); });
      rows.remove();
      if (fresh.length) {
        var wrap = document.getElementById("task-table-wrap");
        var empty = document.getElementById("task-empty");
        if (wrap) wrap.hidden = false;
        if (empty) empty.hidden = true;
      }
    }
    var cells = live.querySelector("template[data-changed-cells]");
    if (cells) {
      Array.prototype.slice.call(cells.content.children).forEach(function (td) {
        var old = td.id && document.getElementById(td.id);
        if (old) old.replaceWith(td);
      });
      cells.remove();
    }
    updateSelection();
  }
  document.addEventListener("htmx:afterSwap", applyPoll);

  // The task page's timeline is re-rendered while the task is live: keep the
  // raw bodies the reader opened open.
  var openDetails = [];
  document.addEventListener("htmx:beforeSwap", function () {
    openDetails = [];
    document.querySelectorAll("#task-live details[open]").forEach(function (d) { openDetails.push(d.id); });
  });
  document.addEventListener("htmx:afterSettle", function () {
    openDetails.forEach(function (id) {
      var d = document.getElementById(id);
      if (d) d.open = true;
    });
    updateSelection();
  });

  // Thumbnails are made by a job the first time a row is shown: until then the
  // server answers a transparent pixel, and the row asks again a few times.
  function watchThumbs(scope) {
    (scope || document).querySelectorAll("img[data-thumb]").forEach(function (img) {
      if (img.dataset.watched) return;
      img.dataset.watched = "1";
      var tries = 0;
      var base = img.getAttribute("src");
      function check() {
        if (img.naturalWidth > 1 || tries >= 6) return;
        tries += 1;
        setTimeout(function () { img.src = base + "?try=" + tries; }, 2000 * tries);
      }
      img.addEventListener("load", check);
      if (img.complete) check();
    });
  }

  // Reject asks for a comment once: the first press with an empty comment points at the
  // box instead of sending; a second press sends it without one (Scale does not require it).
  document.addEventListener("click", function (e) {
    var button = e.target && e.target.closest ? e.target.closest("#act-reject") : null;
    if (!button) return;
    var form = button.form;
    var box = form && form.querySelector("textarea[name=comment]");
    var ask = form && form.querySelector("#review-ask-comment");
    if (!box || !ask || box.value.trim() || form.dataset.askedComment) return;
    e.preventDefault();
    form.dataset.askedComment = "1";
    ask.hidden = false;
    box.focus();
  });

  document.addEventListener("DOMContentLoaded", function () { bindFilters(); bindTable(); watchThumbs(document); });
  document.addEventListener("htmx:afterSwap", function () { watchThumbs(document); });
})();
