// The result viewer on the task page. Data comes from the json_script block
// "viewer-data" (static/js cannot be inline: the CSP forbids it).
//   segmentation: the copied mask (grey value = label index) is coloured from
//     labelMapping on a canvas over the image, with per-label toggles;
//   video: the copied annotations file (one {annotations: [...]} per frame) is
//     drawn over the frames with a scrubber, play/pause and per-track colours.
(function () {
  "use strict";

  function trackColor(id) {
    var h = 0;
    for (var i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) % 360;
    return "hsl(" + h + ", 85%, 55%)";
  }

  function loadImage(src) {
    return new Promise(function (resolve, reject) {
      var img = new Image();
      img.onload = function () { resolve(img); };
      img.onerror = function () { reject(new Error("could not load " + src)); };
      img.src = src;
    });
  }

  function segmentation(root, data) {
    var canvas = root.querySelector("#rv-mask");
    var opacity = root.querySelector("#rv-opacity");
    var colors = {};
    data.labels.forEach(function (l) { colors[l.index] = window.annotator.hexToRgb(l.color); });
    root.querySelectorAll(".swatch").forEach(function (s) { s.style.backgroundColor = s.dataset.color; });
    var indices = null;
    function enabled() {
      var on = {};
      root.querySelectorAll("#rv-legend input[data-index]").forEach(function (el) { on[el.dataset.index] = el.checked; });
      return on;
    }
    function draw() {
      if (!indices) return;
      var ctx = canvas.getContext("2d");
      var on = enabled();
      var alpha = Math.round(255 * (opacity ? opacity.value / 100 : 0.55));
      var out = window.annotator.paintMask(ctx.createImageData(canvas.width, canvas.height), indices, colors, alpha,
        function (idx) { return idx !== 0 && on[idx] !== false; });
      ctx.putImageData(out, 0, 0);
      root.dataset.drawn = "1";
    }
    loadImage(data.mask).then(function (mask) {
      canvas.width = mask.naturalWidth; canvas.height = mask.naturalHeight;
      indices = window.annotator.maskIndices(mask);
      draw();
    }).catch(function (e) { root.dataset.error = e.message; });
    root.addEventListener("change", draw);
    if (opacity) opacity.addEventListener("input", draw);
  }

  function video(root, data) {
    var canvas = root.querySelector("#rv-boxes");
    var scrub = root.querySelector("#rv-scrub");
    var play = root.querySelector("#rv-play");
    var label = root.querySelector("#rv-frame-no");
    var tracks = root.querySelector("#rv-tracks");
    var vid = root.querySelector("#rv-video");
    var img = root.querySelector("#rv-frame");
    var frames = [];
    var current = 0;
    var timer = null;
    var rate = Number(data.frame_rate) || 1;

    function drawBoxes() {
      var ctx = canvas.getContext("2d");
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      var anns = (frames[current] && frames[current].annotations) || [];
      ctx.lineWidth = Math.max(2, canvas.width / 400);
      ctx.font = Math.max(12, canvas.width / 60) + "px system-ui, sans-serif";
      anns.forEach(function (a) {
        var color = trackColor(String(a.uuid || a.label || ""));
        ctx.strokeStyle = color; ctx.fillStyle = color;
        if (a.type === "box" || (a.width !== undefined && a.height !== undefined)) {
          ctx.strokeRect(a.left, a.top, a.width, a.height);
          ctx.fillText(a.label || "", a.left + 2, Math.max(12, a.top - 4));
        } else if (Array.isArray(a.vertices) && a.vertices.length) {
          ctx.beginPath();
          a.vertices.forEach(function (v, i) { if (i) ctx.lineTo(v.x, v.y); else ctx.moveTo(v.x, v.y); });
          if (a.type === "polygon") ctx.closePath();
          ctx.stroke();
        } else if (a.x !== undefined && a.y !== undefined) {
          ctx.beginPath(); ctx.arc(a.x, a.y, 4, 0, 2 * Math.PI); ctx.fill();
        }
      });
      label.textContent = "frame " + current + " / " + Math.max(0, frames.length - 1);
      root.dataset.frame = String(current);
    }

    function sizeTo(w, h) {
      if (w && h && (canvas.width !== w || canvas.height !== h)) { canvas.width = w; canvas.height = h; }
    }

    function show(n) {
      current = Math.max(0, Math.min(n, frames.length - 1));
      scrub.value = String(current);
      if (img && data.frames.length) {
        var src = data.frames[Math.min(current, data.frames.length - 1)];
        if (img.getAttribute("src") !== src) {
          img.onload = function () { sizeTo(img.naturalWidth, img.naturalHeight); drawBoxes(); };
          img.src = src;
        }
      } else if (vid && Math.abs(vid.currentTime * rate - current) >= 1 && vid.paused) {
        vid.currentTime = current / rate;
      }
      drawBoxes();
    }

    function stop() {
      if (timer) { clearInterval(timer); timer = null; }
      if (vid) vid.pause();
      play.textContent = "Play";
    }

    play.addEventListener("click", function () {
      if (timer || (vid && !vid.paused)) { stop(); return; }
      play.textContent = "Pause";
      if (vid) {
        vid.play();
      } else {
        timer = setInterval(function () {
          if (current >= frames.length - 1) { stop(); return; }
          show(current + 1);
        }, 1000 / rate);
      }
    });
    scrub.addEventListener("input", function () { stop(); show(Number(scrub.value)); });
    if (vid) {
      // timeupdate fires only about four times a second: while the video plays,
      // follow it every animation frame so each video frame gets its own boxes.
      var follow = function () {
        var t = vid.currentTime * rate;
        // Paused, the video sits on the frame the scrubber chose; a seek may land a hair before it.
        if (!(vid.paused && !vid.ended && Math.abs(t - current) < 1)) {
          var n = Math.max(0, Math.min(Math.floor(t + 1e-6), frames.length - 1));
          if (n !== current) { current = n; scrub.value = String(n); drawBoxes(); }
        }
        if (!vid.paused && !vid.ended) window.requestAnimationFrame(follow);
      };
      vid.addEventListener("loadedmetadata", function () { sizeTo(vid.videoWidth, vid.videoHeight); drawBoxes(); });
      vid.addEventListener("play", function () { window.requestAnimationFrame(follow); });
      vid.addEventListener("seeked", follow);
      vid.addEventListener("ended", function () { follow(); stop(); });
    }

    fetch(data.annotations, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (json) {
      frames = Array.isArray(json) ? json : [];
      scrub.max = String(Math.max(0, frames.length - 1));
      var seen = {};
      frames.forEach(function (f) {
        ((f && f.annotations) || []).forEach(function (a) {
          var id = String(a.uuid || a.label || "");
          if (!seen[id]) seen[id] = a.label || id;
        });
      });
      Object.keys(seen).forEach(function (id) {
        var li = document.createElement("li");
        var sw = document.createElement("span");
        sw.className = "swatch"; sw.style.backgroundColor = trackColor(id);
        li.appendChild(sw);
        li.appendChild(document.createTextNode(" " + seen[id] + " · " + id.slice(0, 8)));
        tracks.appendChild(li);
      });
      if (!canvas.width || canvas.width === 300) sizeTo(1280, 720);
      show(0);
      root.dataset.drawn = "1";
    }).catch(function (e) { root.dataset.error = e.message; });
  }

  function init(scope) {
    var root = (scope || document).querySelector ? (scope || document).querySelector("#result-viewer") : null;
    var dataEl = document.getElementById("viewer-data");
    if (!root || !dataEl || root.dataset.ready) return;
    root.dataset.ready = "1";
    var data = JSON.parse(dataEl.textContent);
    if (data.kind === "segmentation") segmentation(root, data); else video(root, data);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function () { init(document); });
})();
