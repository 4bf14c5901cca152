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

  function hexToRgb(hex, fallback) {
    var c = (hex || "").replace("#", "");
    if (c.length === 3) c = c[0] + c[0] + c[1] + c[1] + c[2] + c[2];
    var n = /^[0-9a-f]{6}$/i.test(c) ? parseInt(c, 16) : NaN;
    if (isNaN(n)) return fallback || [255, 0, 255];
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  }

  // Scale's combined.indexedImage: one channel, pixel value = label index.
  // Returns the index of every pixel of a loaded mask image.
  function maskIndices(image) {
    var scratch = document.createElement("canvas");
    scratch.width = image.naturalWidth; scratch.height = image.naturalHeight;
    var ctx = scratch.getContext("2d");
    ctx.drawImage(image, 0, 0);
    var px = ctx.getImageData(0, 0, scratch.width, scratch.height).data;
    var indices = new Uint8Array(px.length / 4);
    for (var i = 0; i < indices.length; i++) indices[i] = px[i * 4];
    return indices;
  }

  // Colour mask indices into an ImageData: colors maps index -> [r, g, b];
  // pixels without a colour, or whose index isOn() refuses, stay transparent.
  // The composer's hypothesis preview and the task page's result viewer both
  // draw masks with this.
  function paintMask(imageData, indices, colors, alpha, isOn) {
    var out = imageData.data;
    for (var p = 0, q = 0; p < indices.length; p++, q += 4) {
      var idx = indices[p];
      var rgb = colors[idx];
      if (!rgb || (isOn && !isOn(idx))) continue;
      out[q] = rgb[0]; out[q + 1] = rgb[1]; out[q + 2] = rgb[2]; out[q + 3] = alpha;
    }
    return imageData;
  }

  document.addEventListener("DOMContentLoaded", function () { onReady(document); });
  document.addEventListener("htmx:load", function (e) { onReady(e.target); });
  window.annotator = { onReady: onReady, hexToRgb: hexToRgb, maskIndices: maskIndices, paintMask: paintMask };
})();
