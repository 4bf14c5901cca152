// The composer at phone width: each card folds to its heading (the first cards, and any with a
// problem, open), and a bar fixed at the bottom shows the problem count and Submit, so neither is
// a long scroll away. Nothing changes at wider widths; the fields stay in the form whether a card
// is folded or not (a folded card is only hidden, so everything is still posted).
(function () {
  "use strict";
  var PHONE = window.matchMedia("(max-width: 720px)");
  var form = document.getElementById("compose-form");
  if (!form) return;

  function cards() {
    return Array.prototype.filter.call(form.children, function (node) { return node.matches("section.card"); });
  }

  function headingOf(card) {
    var h2 = card.querySelector("h2");
    if (!h2) return null;
    var top = h2;
    while (top.parentElement !== card) top = top.parentElement;
    return { h2: h2, top: top };
  }

  function setOpen(card, open) {
    card.classList.toggle("folded", !open);
    var toggle = card.querySelector(".card-toggle");
    if (toggle) toggle.setAttribute("aria-expanded", String(open));
  }

  function hasProblem(card) {
    return !!card.querySelector('[aria-invalid="true"], .issues .error, .field.has-error');
  }

  function fold() {
    cards().forEach(function (card, index) {
      var heading = headingOf(card);
      if (!heading || heading.h2.querySelector(".card-toggle")) return;
      heading.top.classList.add("card-head");
      var toggle = document.createElement("button");
      toggle.type = "button";
      toggle.className = "card-toggle";
      while (heading.h2.firstChild) toggle.appendChild(heading.h2.firstChild);
      heading.h2.appendChild(toggle);
      toggle.addEventListener("click", function () {
        // The person's own choice: later previews must not open a card they just folded.
        card.dataset.foldedByHand = card.classList.contains("folded") ? "" : "1";
        setOpen(card, card.classList.contains("folded"));
      });
      // Open: the basics, what to annotate and the labels (every task needs them; a folded
      // Labels card hid "+ Add label" from a new user), and whatever has a problem.
      var needed = index === 0 || !!card.querySelector("#id_attachment") || card.id === "labels-card";
      setOpen(card, needed || hasProblem(card));
    });
  }

  function unfold() {
    cards().forEach(function (card) {
      var toggle = card.querySelector(".card-toggle");
      if (!toggle) return;
      var h2 = toggle.parentElement;
      while (toggle.firstChild) h2.insertBefore(toggle.firstChild, toggle);
      toggle.remove();
      card.classList.remove("folded");
    });
  }

  function apply() { if (PHONE.matches) fold(); else unfold(); }

  // A problem link (in the preview or after Validate) opens the card it points into first.
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("a.issue-link, a[href^='#']");
    if (!link) return;
    var id = link.dataset.field ? "issues-" + link.dataset.field : (link.getAttribute("href") || "").slice(1);
    var target = id && document.getElementById(id);
    var card = target && target.closest("#compose-form > section.card");
    if (card && card.classList.contains("folded")) {
      card.dataset.foldedByHand = "";
      setOpen(card, true);
    }
  }, true);

  function updateBar() {
    var count = document.getElementById("phone-problems");
    if (!count) return;
    var errors = document.querySelectorAll("#preview-errors li").length;
    var todo = document.querySelectorAll("#preview-todo a").length;
    var warnings = document.querySelectorAll("#preview-warnings li").length;
    var refused = document.querySelectorAll("#preview-refusals li").length;
    var text;
    if (errors) text = errors + (errors === 1 ? " problem" : " problems");
    else if (todo) text = todo + " still to fill in";
    // Its project, asked, lacks what the task leaves to it: not "Valid", whatever the rules say.
    else if (refused) text = "✗ Scale will refuse";
    // A warning may be why Scale refuses it (a geometry the project must define): say so.
    else if (warnings) text = "✓ Valid, " + warnings + (warnings === 1 ? " warning" : " warnings");
    else if (document.getElementById("preview-valid")) text = "✓ Valid";
    else text = "Checking…";
    count.textContent = text;
    count.classList.toggle("bad", errors > 0 || (!todo && refused > 0));
    count.classList.toggle("todo", !errors && todo > 0);
    // Open the cards that now hold a problem, so a count is never of something out of sight.
    if (PHONE.matches) {
      cards().forEach(function (card) { if (hasProblem(card) && !card.dataset.foldedByHand) setOpen(card, true); });
    }
  }

  document.addEventListener("htmx:afterSettle", updateBar);
  if (PHONE.addEventListener) PHONE.addEventListener("change", apply);
  apply();
  updateBar();
})();
