// The status table's selection and the task page's live timeline.
// Live refresh swaps single cells (hx-swap-oob), never the rows, so what the
// user is doing (checked boxes, focus, scroll) is left alone; this file only
// keeps the selection count and the open <details> right.
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

  document.addEventListener("DOMContentLoaded", bindTable);
})();
