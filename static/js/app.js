// Small behaviours shared by every page. No inline scripts anywhere: the
// Content-Security-Policy forbids them.
(function () {
  "use strict";

  function onReady(root) {
    root.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
      if (el.dataset.bound) return;
      el.dataset.bound = "1";
      el.addEventListener("change", function () { el.form.submit(); });
    });
    // Widths from data attributes (style="" attributes are blocked by the CSP).
    root.querySelectorAll("[data-width]").forEach(function (el) {
      el.style.width = el.dataset.width + "%";
    });
    root.querySelectorAll("[data-copy]").forEach(function (el) {
      if (el.dataset.bound) return;
      el.dataset.bound = "1";
      el.addEventListener("click", function () {
        var target = document.querySelector(el.dataset.copy);
        if (!target || !navigator.clipboard) return;
        navigator.clipboard.writeText(target.textContent).then(function () {
          var old = el.textContent; el.textContent = "Copied"; setTimeout(function () { el.textContent = old; }, 1200);
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { onReady(document); });
  document.addEventListener("htmx:load", function (e) { onReady(e.target); });
  window.annotator = { onReady: onReady };
})();
