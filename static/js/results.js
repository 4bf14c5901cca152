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

  // The n-th track's colour: hues a golden angle apart, so tracks named in turn are
  // always far apart on the wheel. A hash of the uuid alone often put two tracks
  // a few degrees apart (the sandbox's "car 1" and "pedestrian 1" came out the same green).
  function orderColor(n) {
    return "hsl(" + Math.round((n * 137.508) % 360) + ", 85%, 55%)";
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

    // All / none: one click instead of one per label.
    root.querySelectorAll("[data-toggle-all]").forEach(function (button) {
      button.addEventListener("click", function () {
        var on = button.dataset.toggleAll === "on";
        root.querySelectorAll("#rv-legend input[data-index]").forEach(function (el) { el.checked = on; });
        draw();
      });
    });

    // The label under the pointer (or the finger: a tap shows it too).
    var names = {};
    data.labels.forEach(function (l) { names[l.index] = l.name; });
    var hover = root.querySelector("#rv-hover");
    var stage = root.querySelector(".stage");
    function pointAt(e) {
      if (!indices || !hover) return;
      var box = canvas.getBoundingClientRect();
      var x = Math.floor((e.clientX - box.left) / box.width * canvas.width);
      var y = Math.floor((e.clientY - box.top) / box.height * canvas.height);
      if (x < 0 || y < 0 || x >= canvas.width || y >= canvas.height) { hover.textContent = "—"; return; }
      var idx = indices[y * canvas.width + x];
      hover.textContent = idx === 0 ? "unlabeled" : (names[idx] || "index " + idx);
      hover.dataset.index = String(idx);
    }
    if (stage) {
      stage.addEventListener("pointermove", pointAt);
      stage.addEventListener("pointerdown", pointAt);
      stage.addEventListener("pointerleave", function () { if (hover) hover.textContent = "—"; });
    }
  }

  // Scale's two video result files, read into one list of frames in time order,
  // each {t: seconds, annotations: [{uuid, type, label, attributes, ...geometry}]}:
  //   videoannotation: an array, element i = frame i (at i / frame_rate s);
  //   videoplaybackannotation: an object of tracks keyed by uuid,
  //     {label (only with with_labels), geometry: "box"|…, frames: [{key, timestamp, attributes, …}]}.
  // Playback frames may be keyframes only: between two of a track's entries the
  // geometry is interpolated, as Scale's own player does.
  var GEOMETRY_FIELDS = ["left", "top", "width", "height", "x", "y", "rotation"];

  function playbackFrames(json, rate) {
    var byTime = {};
    var times = [];
    var tracks = [];
    Object.keys(json).forEach(function (uuid) {
      var track = json[uuid];
      if (!track || typeof track !== "object" || !Array.isArray(track.frames)) return;
      var entries = track.frames.filter(function (f) { return f && typeof f === "object"; }).map(function (f) {
        var t = typeof f.timestamp === "number" ? f.timestamp : (typeof f.key === "number" ? f.key / rate : NaN);
        return { t: t, f: f };
      }).filter(function (e) { return isFinite(e.t); });
      entries.sort(function (a, b) { return a.t - b.t; });
      if (!entries.length) return;
      tracks.push({ uuid: uuid, track: track, entries: entries });
      entries.forEach(function (e) {
        var k = e.t.toFixed(3);
        if (!(k in byTime)) { byTime[k] = e.t; times.push(e.t); }
      });
    });
    times.sort(function (a, b) { return a - b; });
    return times.map(function (t) {
      var annotations = [];
      tracks.forEach(function (tr) {
        var e = tr.entries;
        if (t < e[0].t - 1e-6 || t > e[e.length - 1].t + 1e-6) return;
        var i = 0;
        while (i < e.length - 1 && e[i + 1].t <= t + 1e-6) i++;
        var a = shapeOf(e[i].f, tr.track.geometry);
        if (Math.abs(e[i].t - t) > 1e-6 && i + 1 < e.length) {
          a = interpolate(a, shapeOf(e[i + 1].f, tr.track.geometry), (t - e[i].t) / (e[i + 1].t - e[i].t));
        }
        a.uuid = tr.uuid;
        a.type = String(tr.track.geometry || a.type || "box");
        if (typeof tr.track.label === "string") a.label = tr.track.label;
        annotations.push(a);
      });
      return { t: t, annotations: annotations };
    });
  }

  function shapeOf(f, geometry) {
    var a = {};
    Object.keys(f).forEach(function (k) { a[k] = f[k]; });
    // Boxes: Scale's hypothesis example says left/top, FiftyOne reads x/y; accept both.
    if ((geometry === "box" || geometry === undefined) && a.left === undefined && a.width !== undefined) {
      a.left = a.x; a.top = a.y; delete a.x; delete a.y;
    }
    return a;
  }

  function interpolate(a, b, k) {
    var out = {};
    Object.keys(a).forEach(function (key) { out[key] = a[key]; });
    GEOMETRY_FIELDS.forEach(function (key) {
      if (typeof a[key] === "number" && typeof b[key] === "number") out[key] = a[key] + (b[key] - a[key]) * k;
    });
    if (Array.isArray(a.vertices) && Array.isArray(b.vertices) && a.vertices.length === b.vertices.length) {
      out.vertices = a.vertices.map(function (v, i) {
        var w = b.vertices[i] || v;
        return { x: v.x + (w.x - v.x) * k, y: v.y + (w.y - v.y) * k };
      });
    }
    return out;
  }

  function readFrames(json, rate) {
    if (Array.isArray(json)) {
      return json.map(function (f, i) {
        return {
          t: i / rate,
          annotations: (f && Array.isArray(f.annotations)) ? f.annotations : [],
          global_attributes: f && f.global_attributes
        };
      });
    }
    if (json && typeof json === "object") return playbackFrames(json, rate);
    return [];
  }

  // Tracks named as a person reads them: "car 1", "car 2", "pedestrian 1"
  // (numbered per label in order of first appearance), never by uuid.
  function nameTracks(frames) {
    var names = {};
    var order = [];
    var perLabel = {};
    frames.forEach(function (f) {
      f.annotations.forEach(function (a) {
        var id = String(a.uuid || a.label || "");
        if (id in names) return;
        var label = typeof a.label === "string" && a.label ? a.label : "track";
        perLabel[label] = (perLabel[label] || 0) + 1;
        names[id] = label + " " + perLabel[label];
        order.push(id);
      });
    });
    return { names: names, order: order };
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
    var names = {};
    var current = 0;
    var timer = null;
    var rate = Number(data.frame_rate) || 1;

    var colours = {};  // track id -> colour, by order of appearance (see orderColor)

    function trackId(a) { return String(a.uuid || a.label || ""); }
    function colourOf(id) { return colours[id] || trackColor(id); }

    function drawBoxes() {
      var ctx = canvas.getContext("2d");
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      var anns = (frames[current] && frames[current].annotations) || [];
      ctx.lineWidth = Math.max(2, canvas.width / 400);
      ctx.font = Math.max(12, canvas.width / 60) + "px system-ui, sans-serif";
      anns.forEach(function (a) {
        var id = trackId(a);
        var color = colourOf(id);
        var name = names[id] || a.label || "";
        ctx.strokeStyle = color; ctx.fillStyle = color;
        if (a.type === "box" || (a.width !== undefined && a.height !== undefined)) {
          ctx.strokeRect(a.left, a.top, a.width, a.height);
          ctx.fillText(name, a.left + 2, Math.max(12, a.top - 4));
        } else if (Array.isArray(a.vertices) && a.vertices.length) {
          ctx.beginPath();
          a.vertices.forEach(function (v, i) { if (i) ctx.lineTo(v.x, v.y); else ctx.moveTo(v.x, v.y); });
          if (a.type === "polygon") ctx.closePath();
          ctx.stroke();
          ctx.fillText(name, a.vertices[0].x + 2, Math.max(12, a.vertices[0].y - 4));
        } else if (a.x !== undefined && a.y !== undefined) {
          ctx.beginPath(); ctx.arc(a.x, a.y, 4, 0, 2 * Math.PI); ctx.fill();
          ctx.fillText(name, a.x + 6, Math.max(12, a.y - 6));
        }
      });
      label.textContent = "frame " + current + " / " + Math.max(0, frames.length - 1);
      root.dataset.frame = String(current);
      frameDetails(anns);
    }

    // What Scale said about each object on this frame: its attributes, by name.
    // A linked attribute's value is another annotation's uuid: shown by that track's name.
    function valueText(v) {
      if (Array.isArray(v)) return v.map(valueText).join(", ");
      if (v && typeof v === "object") return JSON.stringify(v);
      var text = String(v);
      return names[text] || text;
    }
    function attributeLine(attrs) {
      if (!attrs || typeof attrs !== "object") return "";
      return Object.keys(attrs).map(function (k) { return k + ": " + valueText(attrs[k]); }).join(" · ");
    }
    var attrsList = root.querySelector("#rv-attrs");
    function frameDetails(anns) {
      if (!attrsList) return;
      attrsList.textContent = "";
      var global = frames[current] && frames[current].global_attributes;
      if (global && Object.keys(global).length) {
        var g = document.createElement("li");
        g.textContent = "Whole frame — " + attributeLine(global);
        attrsList.appendChild(g);
      }
      anns.forEach(function (a) {
        var li = document.createElement("li");
        var sw = document.createElement("span");
        sw.className = "swatch"; sw.style.backgroundColor = colourOf(trackId(a));
        li.appendChild(sw);
        li.appendChild(document.createTextNode(" " + (names[trackId(a)] || a.label || "object")));
        var line = attributeLine(a.attributes);
        if (line) {
          var span = document.createElement("span");
          span.className = "attrs";
          span.textContent = " — " + line;
          li.appendChild(span);
        }
        attrsList.appendChild(li);
      });
      if (!attrsList.children.length) {
        var none = document.createElement("li");
        none.className = "muted";
        none.textContent = "No object on this frame.";
        attrsList.appendChild(none);
      }
      markEvents();
    }

    // Events (Scale's {"events": [...]}): each a button that jumps to its start;
    // the ones under way at the current frame are marked.
    var eventsList = root.querySelector("#rv-events");
    var events = [];
    function eventTime(e, which) {
      var t = e[which + "Time"];
      if (typeof t === "number") return t;
      return typeof e[which] === "number" ? e[which] / rate : NaN;
    }
    function markEvents() {
      if (!eventsList || !frames.length) return;
      var now = timeOf(current);
      events.forEach(function (ev) {
        var end = isFinite(ev.end) ? ev.end : ev.start;
        var on = now >= ev.start - 1e-3 && now <= end + 1e-3;
        ev.li.classList.toggle("active", on);
        if (on) ev.li.setAttribute("aria-current", "true"); else ev.li.removeAttribute("aria-current");
      });
    }
    function loadEvents() {
      if (!data.events || !eventsList) return Promise.resolve();
      return fetch(data.events, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (json) {
        var list = json && Array.isArray(json.events) ? json.events : [];
        list.forEach(function (e) {
          if (!e || typeof e !== "object") return;
          var ev = { start: eventTime(e, "start"), end: eventTime(e, "end") };
          if (!isFinite(ev.start)) return;
          ev.li = document.createElement("li");
          var button = document.createElement("button");
          button.type = "button"; button.className = "small event-jump";
          var span = isFinite(ev.end) ? ev.start.toFixed(1) + "–" + ev.end.toFixed(1) + " s" : ev.start.toFixed(1) + " s";
          button.textContent = String(e.label || "event") + " · " + span;
          button.addEventListener("click", function () { stop(); show(frameAt(ev.start)); });
          ev.li.appendChild(button);
          var line = attributeLine(e.attributes);
          if (line) {
            var attrs = document.createElement("span");
            attrs.className = "attrs"; attrs.textContent = " — " + line;
            ev.li.appendChild(attrs);
          }
          eventsList.appendChild(ev.li);
          events.push(ev);
        });
        if (!events.length) {
          var none = document.createElement("li");
          none.className = "muted"; none.textContent = "No events were marked.";
          eventsList.appendChild(none);
        }
        markEvents();
      }).catch(function () {
        eventsList.textContent = "The events file could not be read.";
      });
    }

    function sizeTo(w, h) {
      if (w && h && (canvas.width !== w || canvas.height !== h)) { canvas.width = w; canvas.height = h; }
    }

    function timeOf(n) { return frames[n] ? frames[n].t : n / rate; }

    // The last frame at or before the video's time (frames are in time order).
    function frameAt(seconds) {
      var lo = 0, hi = frames.length - 1;
      if (hi < 0 || seconds < frames[0].t - 1e-3) return 0;
      while (lo < hi) {
        var mid = (lo + hi + 1) >> 1;
        if (frames[mid].t <= seconds + 1e-3) lo = mid; else hi = mid - 1;
      }
      return lo;
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
      } else if (vid && vid.paused && frameAt(vid.currentTime) !== current) {
        vid.currentTime = timeOf(current);
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
        // Paused, the video sits on the frame the scrubber chose; a seek may land a hair before it.
        var gap = current + 1 < frames.length ? timeOf(current + 1) - timeOf(current) : 1 / rate;
        if (!(vid.paused && !vid.ended && Math.abs(vid.currentTime - timeOf(current)) < gap)) {
          var n = frameAt(vid.currentTime);
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
      frames = readFrames(json, rate);
      scrub.max = String(Math.max(0, frames.length - 1));
      var named = nameTracks(frames);
      names = named.names;
      named.order.forEach(function (id, n) { colours[id] = orderColor(n); });
      named.order.forEach(function (id) {
        var li = document.createElement("li");
        li.title = id;  // the uuid stays findable, but is not the name
        var sw = document.createElement("span");
        sw.className = "swatch"; sw.style.backgroundColor = colourOf(id);
        li.appendChild(sw);
        li.appendChild(document.createTextNode(" " + names[id]));
        tracks.appendChild(li);
      });
      if (!named.order.length) {
        var empty = document.createElement("li");
        empty.className = "muted";
        empty.textContent = "The annotations file holds no tracks.";
        tracks.appendChild(empty);
      }
      if (!canvas.width || canvas.width === 300) sizeTo(1280, 720);
      show(0);
      return loadEvents();
    }).then(function () {
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
