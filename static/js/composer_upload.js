// The composer's attachment upload: drop (or choose) a local image or video, send it through
// the workspace's Scale file upload, and put the scaledata:// URL Scale answers into the
// attachment field. Progress while it goes; undo if it replaced an attachment.
(function () {
  "use strict";

  function start() {
    var zone = document.getElementById("upload-drop");
    if (!zone) return;
    var input = document.getElementById("upload-file");
    var target = document.getElementById(zone.dataset.target);
    var bar = document.getElementById("upload-progress");
    var status = document.getElementById("upload-status");
    var undo = document.getElementById("upload-undo");
    var preview = document.getElementById("upload-preview");
    var previous = null;
    var busy = false;
    var shown = null;

    function say(text, failed) {
      status.textContent = text;
      zone.classList.toggle("upload-failed", !!failed);
    }

    function setTarget(value) {
      target.value = value;
      // The composer re-validates and redraws its preview on these events.
      target.dispatchEvent(new Event("input", { bubbles: true }));
      target.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function show(file) {
      if (shown) URL.revokeObjectURL(shown);
      shown = URL.createObjectURL(file);
      preview.textContent = "";
      var video = file.type.indexOf("video/") === 0;
      var node = document.createElement(video ? "video" : "img");
      if (video) { node.controls = true; node.muted = true; } else { node.alt = "The uploaded file: " + file.name; }
      node.src = shown;
      preview.appendChild(node);
    }

    function csrf() {
      var field = document.querySelector("input[name=csrfmiddlewaretoken]");
      return field ? field.value : "";
    }

    function send(file) {
      if (!file || !target || busy) return;
      busy = true;
      var data = new FormData();
      data.append("file", file);
      var project = document.getElementById("id_project");
      data.append("project", project ? project.value : "");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", zone.dataset.uploadUrl);
      xhr.setRequestHeader("X-CSRFToken", csrf());
      bar.hidden = false;
      bar.value = 0;
      say("Uploading " + file.name + "…", false);
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        bar.value = Math.round((e.loaded / e.total) * 100);
        say("Uploading " + file.name + "… " + bar.value + "%", false);
      });
      xhr.addEventListener("load", function () {
        busy = false;
        bar.hidden = true;
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
        if (xhr.status === 200 && body.attachment_url) {
          previous = target.value;
          setTarget(body.attachment_url);
          show(file);
          say("Uploaded " + body.name + ". The attachment is now " + body.attachment_url + ".", false);
          undo.hidden = !previous;
        } else {
          say(body.error || "The upload failed (HTTP " + xhr.status + "); the attachment is unchanged.", true);
        }
      });
      xhr.addEventListener("error", function () {
        busy = false;
        bar.hidden = true;
        say("The upload did not reach the server; check the connection and try again. The attachment is unchanged.", true);
      });
      xhr.send(data);
    }

    input.addEventListener("change", function () {
      send(input.files && input.files[0]);
      input.value = "";
    });
    undo.addEventListener("click", function () {
      if (previous === null) return;
      setTarget(previous);
      say("The previous attachment is back.", false);
      previous = null;
      undo.hidden = true;
      preview.textContent = "";
    });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("upload-over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("upload-over"); });
    });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      var files = e.dataTransfer && e.dataTransfer.files;
      if (files && files.length) send(files[0]);
    });
  }

  document.addEventListener("DOMContentLoaded", start);
})();
