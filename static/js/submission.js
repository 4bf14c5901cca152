// Bulk submission: a form marked data-submit-once cannot be sent twice by a
// double click (the server would refuse the duplicate rows anyway).
(function () {
  "use strict";
  function bind(root) {
    root.querySelectorAll("form[data-submit-once]").forEach(function (form) {
      if (form.dataset.submitOnceBound) return;
      form.dataset.submitOnceBound = "1";
      form.addEventListener("submit", function () {
        form.querySelectorAll("button[type=submit]").forEach(function (button) {
          // After the browser has taken the form data, so the click still submits.
          window.setTimeout(function () { button.disabled = true; button.textContent = "Working…"; }, 0);
        });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { bind(document); });
})();
