// The task composer's builders and previews.
//
// Each builder keeps its state in a hidden JSON form field (labels_json, geometries_json, ...)
// in Scale's own format, so the server sees exactly what the builder shows, unknown keys
// included (they are kept, and the server's validation reports them). Scale's rules are never
// re-implemented here: counts, sizes and errors come back from the server's preview partial.
// No inline scripts or styles anywhere: the Content-Security-Policy forbids them.
(function () {
  "use strict";

  var form = null;

  // ---- small DOM helpers -------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "on") Object.keys(value).forEach(function (ev) { node.addEventListener(ev, value[ev]); });
      else if (key === "checked" || key === "disabled" || key === "selected") node[key] = !!value;
      else if (key === "value") node.value = value;
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function button(text, label, onClick, cls) {
    return el("button", { type: "button", "class": "small " + (cls || ""), "aria-label": label || text.replace(/^\+\s*/, ""), text: text,
      on: { click: onClick } });
  }

  function readJSON(input, fallback) {
    if (!input || !input.value.trim()) return fallback;
    try { return JSON.parse(input.value); } catch (e) { return fallback; }
  }

  function isObject(value) { return value !== null && typeof value === "object" && !Array.isArray(value); }
  function isEmpty(value) {
    return value === undefined || value === null || value === "" ||
      (Array.isArray(value) && value.length === 0) || (isObject(value) && Object.keys(value).length === 0);
  }

  // Fields the person has touched: only their problems are shown as they type (a blank form
  // does not shout "required"); Validate and Submit show everything.
  var touched = {};
  function touch(name) { if (name && name !== "import_json" && name !== "csrfmiddlewaretoken") touched[name] = true; }

  // Writes the builder's state to its hidden field and tells htmx to refresh the preview.
  function commit(input, value) {
    touch(input.name);
    input.value = isEmpty(value) ? "" : JSON.stringify(value);
    input.dispatchEvent(new CustomEvent("composer:changed", { bubbles: true }));
    document.dispatchEvent(new CustomEvent("composer:leaves"));
  }

  // Re-rendering replaces inputs; this puts the keyboard focus back where it was.
  function withFocus(root, render) {
    var active = document.activeElement;
    var key = active && root.contains(active) ? active.getAttribute("data-key") : null;
    render();
    if (key) {
      var again = root.querySelector('[data-key="' + CSS.escape(key) + '"]');
      if (again) again.focus();
    }
  }

  function parseNumber(raw) {
    if (raw.trim() === "") return undefined;
    var n = Number(raw);
    // Not a number: kept as typed so the server names the problem next to the field.
    return isFinite(n) ? n : raw;
  }

  function setPath(obj, path, value) {
    var target = obj;
    for (var i = 0; i < path.length - 1; i++) {
      if (!isObject(target[path[i]])) target[path[i]] = {};
      target = target[path[i]];
    }
    var last = path[path.length - 1];
    if (value === undefined) delete target[last]; else target[last] = value;
    // Drop parents left empty, so {"camera_intrinsics": {}} never reaches the payload.
    for (var depth = path.length - 1; depth > 0; depth--) {
      var parent = obj;
      for (var j = 0; j < depth - 1; j++) parent = parent[path[j]];
      if (isObject(parent[path[depth - 1]]) && Object.keys(parent[path[depth - 1]]).length === 0) {
        delete parent[path[depth - 1]];
      }
    }
  }

  function getPath(obj, path) {
    var value = obj;
    for (var i = 0; i < path.length; i++) {
      if (!isObject(value)) return undefined;
      value = value[path[i]];
    }
    return value;
  }

  var uid = 0;
  function nextId(prefix) { uid += 1; return prefix + "-" + uid; }

  // ---- labels: Scale's strings and LabelDescription objects --------------------------------
  function normalizeLabels(list) {
    if (!Array.isArray(list)) return [];
    return list.map(function (entry) {
      if (typeof entry === "string") return { choice: entry };
      if (isObject(entry)) {
        var node = Object.assign({}, entry);
        if (Array.isArray(entry.subchoices)) node.subchoices = normalizeLabels(entry.subchoices);
        return node;
      }
      return { choice: String(entry) };
    });
  }

  function serializeLabels(nodes) {
    return nodes.map(function (node) {
      var out = {};
      Object.keys(node).forEach(function (key) {
        if (key === "subchoices") {
          if (node.subchoices && node.subchoices.length) out.subchoices = serializeLabels(node.subchoices);
        } else if (!(key === "display" && !node.display) && node[key] !== undefined) {
          out[key] = node[key];
        }
      });
      var keys = Object.keys(out);
      return keys.length === 1 && keys[0] === "choice" && typeof out.choice === "string" ? out.choice : out;
    });
  }

  function leavesOf(list, into) {
    into = into || [];
    (Array.isArray(list) ? list : []).forEach(function (entry) {
      if (typeof entry === "string") { if (entry.trim()) into.push(entry); }
      else if (isObject(entry)) {
        if (Array.isArray(entry.subchoices) && entry.subchoices.length) leavesOf(entry.subchoices, into);
        else if (typeof entry.choice === "string" && entry.choice.trim()) into.push(entry.choice);
      }
    });
    return into;
  }

  // The leaf labels annotators can pick, for the condition, link and linked-attribute pickers.
  function currentLeaves() {
    var leaves = [];
    var labels = document.getElementById("id_labels_json");
    if (labels) leavesOf(readJSON(labels, []), leaves);
    var geometries = document.getElementById("id_geometries_json");
    if (geometries) {
      var value = readJSON(geometries, {});
      Object.keys(isObject(value) ? value : {}).forEach(function (kind) {
        if (isObject(value[kind])) leavesOf(value[kind].objects_to_annotate, leaves);
      });
    }
    return leaves.filter(function (leaf, i) { return leaves.indexOf(leaf) === i; });
  }

  // A nested, keyboard-friendly tree editor over normalized label nodes.
  // Keys in a name field: Enter adds a sibling after it; in a label made with Enter (the outliner's
  // flow: type, Enter, type, Tab), Tab nests it under the label above and Shift+Tab takes it out one
  // level; Alt+↑/↓ moves it. Everywhere else Tab moves the focus as usual: a label added with the
  // button, or one being renamed, is never restructured by a habitual Tab (a new user's "road, Tab,
  // car" nested car under road), and the keyboard is never trapped. Rows can also be dragged (before, after or
  // into another row); the buttons and keys are the accessible path.
  function TreeEditor(options) {
    this.nodes = options.nodes;
    this.instance = options.instance;
    this.onChange = options.onChange;
    this.what = options.what || "label";
    this.keyPrefix = options.keyPrefix || "t";
    this.maxTop = options.maxTop || 0;
    this.filterable = !!options.filterable;
    this.filter = "";
    this.pasting = false;
    this.dragging = null;
    // Labels made with Enter: only they take Tab and Shift+Tab (a WeakSet keeps it out of the payload).
    this.outlined = typeof WeakSet === "function" ? new WeakSet() : null;
    this.root = el("div", { "class": "tree-editor" });
    this.render();
  }

  TreeEditor.prototype.changed = function (structural) {
    if (structural) { var self = this; withFocus(this.root, function () { self.render(); }); }
    this.onChange(serializeLabels(this.nodes));
  };

  // The list holding the node at `path` (indices from the top), and its index there.
  TreeEditor.prototype.locate = function (path) {
    var list = this.nodes;
    for (var i = 0; i < path.length - 1; i++) {
      var parent = list[path[i]];
      if (!parent) return null;
      list = parent.subchoices = parent.subchoices || [];
    }
    var index = path[path.length - 1];
    return index < list.length ? { list: list, index: index, node: list[index] } : null;
  };

  TreeEditor.prototype.pathOf = function (node) {
    var found = null;
    (function walk(list, path) {
      list.forEach(function (n, i) {
        if (found) return;
        if (n === node) found = path.concat(i);
        else if (n.subchoices) walk(n.subchoices, path.concat(i));
      });
    })(this.nodes, []);
    return found;
  };

  TreeEditor.prototype.focusNode = function (node, part) {
    var path = this.pathOf(node);
    if (!path) return;
    var input = this.root.querySelector('[data-key="' + CSS.escape(this.keyPrefix + ":" + path.join(".") + ":" + (part || "name")) + '"]');
    if (input) { input.focus(); input.dataset.editing = "1"; }
  };

  // Drops empty sub-lists a move leaves behind, so the JSON shows a plain label again.
  function pruneEmpty(nodes) {
    nodes.forEach(function (node) {
      if (node.subchoices) { pruneEmpty(node.subchoices); if (!node.subchoices.length) delete node.subchoices; }
    });
  }

  // Moves `node` (at `from`) before/after/into `target`; refused into its own descendants.
  TreeEditor.prototype.move = function (from, target, where) {
    var source = this.locate(from);
    if (!source || source.node === target) return false;
    var inside = false;
    (function walk(list) { list.forEach(function (n) { if (n === target) inside = true; else if (n.subchoices) walk(n.subchoices); }); })(source.node.subchoices || []);
    if (inside) return false;
    source.list.splice(source.index, 1);
    if (where === "inside") {
      target.subchoices = target.subchoices || [];
      target.subchoices.push(source.node);
    } else {
      var at = this.locate(this.pathOf(target));
      at.list.splice(at.index + (where === "after" ? 1 : 0), 0, source.node);
    }
    pruneEmpty(this.nodes);
    return true;
  };

  TreeEditor.prototype.nameOf = function (node) { return node.choice || "this " + this.what; };

  TreeEditor.prototype.isOutlined = function (node) { return !this.outlined || this.outlined.has(node); };

  TreeEditor.prototype.onNameKey = function (e, node, path) {
    if (e.isComposing || e.ctrlKey || e.metaKey) return;
    var here = this.locate(path);
    if (!here) return;
    var self = this;
    var editing = e.target.dataset.editing === "1";
    if (e.key === "Escape") { e.target.dataset.editing = ""; return; }
    if (e.key === "Enter" && !e.altKey && !e.shiftKey) {
      e.preventDefault();
      var fresh = { choice: "" };
      if (this.outlined) this.outlined.add(fresh);
      here.list.splice(here.index + 1, 0, fresh);
      this.changed(true);
      this.focusNode(fresh);
      this.announce("Added a " + this.what + " after " + this.nameOf(node) + ".");
    } else if (e.key === "Tab" && !e.shiftKey && !e.altKey) {
      // Nothing above to nest under, or not the outliner's flow: Tab moves on as usual.
      if (here.index === 0 || !editing || !this.isOutlined(node)) return;
      e.preventDefault();
      var parent = here.list[here.index - 1];
      this.move(path, parent, "inside");
      this.changed(true);
      this.focusNode(node);
      this.announce(this.nameOf(node) + " is now under " + this.nameOf(parent) + ".");
    } else if (e.key === "Tab" && e.shiftKey && !e.altKey) {
      // Already at the top, or not the outliner's flow: Shift+Tab moves back as usual.
      if (path.length < 2 || !editing || !this.isOutlined(node)) return;
      e.preventDefault();
      var owner = this.locate(path.slice(0, -1)).node;
      this.move(path, owner, "after");
      this.changed(true);
      this.focusNode(node);
      this.announce(this.nameOf(node) + " is now after " + this.nameOf(owner) + ".");
    } else if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      var to = here.index + (e.key === "ArrowUp" ? -1 : 1);
      if (to < 0 || to >= here.list.length) return;
      e.preventDefault();
      here.list.splice(to, 0, here.list.splice(here.index, 1)[0]);
      this.changed(true);
      self.focusNode(node);
    }
  };

  // Shows the labels whose name or display name contains the filter text, with their ancestors.
  TreeEditor.prototype.applyFilter = function () {
    var needle = this.filter.trim().toLowerCase();
    var matches = 0;
    function visit(li) {
      var name = li.querySelector(":scope > .tree-row input.label-name");
      var display = li.querySelector(":scope > .tree-row input.label-display");
      var text = ((name ? name.value : "") + "\n" + (display ? display.value : "")).toLowerCase();
      var own = !!needle && text.indexOf(needle) >= 0;
      if (own) matches += 1;
      var child = false;
      li.querySelectorAll(":scope > ol > li").forEach(function (sub) { if (visit(sub)) child = true; });
      // A label just added (still without a name) stays visible, so typing into it works.
      var shown = !needle || own || child || (name && !name.value);
      li.hidden = !shown;
      li.classList.toggle("filter-match", own);
      return own || child;
    }
    this.root.querySelectorAll(":scope > ol > li").forEach(visit);
    var status = this.root.querySelector(".tree-filter-status");
    if (status) {
      var raw = this.filter.trim();
      status.textContent = !raw ? "" : matches
        ? matches + " " + this.what + (matches === 1 ? " matches" : "s match") + " “" + raw + "”"
        : "No " + this.what + " matches “" + raw + "”";
    }
  };

  TreeEditor.prototype.render = function () {
    this.root.textContent = "";
    var self = this;
    if (this.filterable || this.filter || countNodes(this.nodes) >= 12) {
      var filterId = nextId("filter");
      var box = el("input", { type: "search", id: filterId, "class": "tree-filter", value: this.filter,
        "data-key": this.keyPrefix + ":filter", placeholder: "Filter " + this.what + "s…", autocomplete: "off",
        on: { input: function (e) { self.filter = e.target.value; self.applyFilter(); },
          keydown: function (e) { if (e.key === "Enter") e.preventDefault(); } } });
      this.root.appendChild(el("div", { "class": "row tree-filter-row" }, [
        el("label", { "for": filterId, "class": "sr-only", text: "Filter " + this.what + "s" }), box,
        el("span", { "class": "help tree-filter-status", role: "status", "aria-live": "polite" })
      ]));
    }
    this.root.appendChild(this.list(this.nodes, [], 1));
    this.root.appendChild(button("+ Add " + this.what, "Add " + this.what, function () {
      self.nodes.push({ choice: "" });
      self.changed(true);
      var inputs = self.root.querySelectorAll(":scope > ol > li > .tree-row input.label-name");
      if (inputs.length) { inputs[inputs.length - 1].focus(); inputs[inputs.length - 1].dataset.editing = "1"; }
    }, "add"));
    var paste = button("Paste a list", "Paste a list of " + this.what + "s at once", function () {
      self.pasting = !self.pasting;
      self.render();
      var box = self.root.querySelector("textarea.paste-labels");
      if (box) box.focus();
    }, "add paste-toggle");
    paste.setAttribute("aria-expanded", this.pasting ? "true" : "false");
    this.root.appendChild(paste);
    if (this.pasting) this.root.appendChild(this.pastePanel());
    if (this.filterable) {
      this.root.appendChild(el("p", { "class": "help key-hint" }, [
        "Keys while writing a name: ", el("kbd", { text: "Enter" }), " adds the next " + this.what + "; in one added with Enter, ",
        el("kbd", { text: "Tab" }), " puts it under the one above and ", el("kbd", { text: "Shift+Tab" }), " takes it back out; ",
        el("kbd", { text: "Alt+↑/↓" }), " moves it; ", el("kbd", { text: "Esc" }), " then Tab moves on. Or drag ", el("span", { "aria-hidden": "true", text: "⠿" }), " onto a row's edge (before/after) or middle (under it)."
      ]));
    }
    this.root.appendChild(el("p", { "class": "help tree-status", role: "status", "aria-live": "polite" }));
    if (this.filter) this.applyFilter();
  };

  // One name per line; deeper indentation (spaces or tabs) than the line above makes a sub-entry.
  // "- " and "* " list markers are taken off, so a markdown list pastes as it reads.
  function parseOutline(text) {
    var root = { subchoices: [] }, stack = [{ indent: -1, node: root }];
    text.split(/\r?\n/).forEach(function (raw) {
      var line = raw.replace(/\t/g, "    ");
      var name = line.trim().replace(/^[-*•]\s+/, "");
      if (!name) return;
      var indent = line.length - line.replace(/^\s+/, "").length;
      while (stack.length > 1 && stack[stack.length - 1].indent >= indent) stack.pop();
      var parent = stack[stack.length - 1].node;
      parent.subchoices = parent.subchoices || [];
      var node = { choice: name };
      parent.subchoices.push(node);
      stack.push({ indent: indent, node: node });
    });
    return root.subchoices;
  }

  function countNodes(nodes) {
    return nodes.reduce(function (n, node) { return n + 1 + countNodes(node.subchoices || []); }, 0);
  }

  TreeEditor.prototype.pastePanel = function () {
    var self = this;
    var id = nextId("paste");
    var box = el("textarea", { id: id, rows: 8, spellcheck: "false", "class": "paste-labels",
      placeholder: "vehicle\n  car\n  truck\nroad\nsky" });
    var note = el("p", { "class": "help", "aria-live": "polite" });
    var panel = el("div", { "class": "paste-panel" }, [
      el("label", { "for": id, text: "Paste " + this.what + "s: one per line; indent a line to make it a sub-" + this.what + " of the line above" }),
      box,
      el("div", { "class": "row" }, [
        button("Add these " + this.what + "s", "Add the pasted " + this.what + "s", function () {
          var nodes = parseOutline(box.value);
          if (!nodes.length) { note.textContent = "Nothing to add: type or paste one " + self.what + " per line."; box.focus(); return; }
          Array.prototype.push.apply(self.nodes, nodes);
          self.pasting = false;
          self.changed(true);
          var again = self.root.querySelector("button.paste-toggle");
          if (again) again.focus();
          var added = countNodes(nodes);
          var max = self.maxTop;
          var message = "Added " + added + " " + self.what + (added === 1 ? "" : "s") + ".";
          if (max && self.nodes.length > max) {
            message += " Scale takes at most " + max + " top-level " + self.what + "s; this list has " + self.nodes.length + ".";
          }
          self.announce(message);
        }, "primary"),
        button("Cancel", "Cancel pasting", function () { self.pasting = false; self.changed(true); })
      ]),
      note
    ]);
    return panel;
  };

  TreeEditor.prototype.announce = function (message) {
    var status = this.root.querySelector(".tree-status");
    if (status) status.textContent = message;
  };

  TreeEditor.prototype.list = function (nodes, path, depth) {
    var self = this;
    var ol = el("ol", { "class": "tree depth-" + Math.min(depth, 6) });
    nodes.forEach(function (node, index) {
      var here = path.concat(index);
      var key = self.keyPrefix + ":" + here.join(".");
      var name = el("input", {
        "class": "label-name", value: node.choice || "", "data-key": key + ":name",
        "aria-label": self.what + " name (level " + depth + ", " + (index + 1) + " of " + nodes.length + ")",
        placeholder: self.what + " name",
        "aria-keyshortcuts": "Enter Tab Shift+Tab Alt+ArrowUp Alt+ArrowDown",
        on: { input: function (e) { e.target.dataset.editing = "1"; node.choice = e.target.value; self.changed(false); },
          // Tab and Shift+Tab restructure only while a name is being written (typed in, or just
          // made with Enter): tabbing through the form past a label moves on and changes nothing.
          focus: function (e) { e.target.dataset.editing = ""; },
          keydown: function (e) { self.onNameKey(e, node, here); } }
      });
      var display = el("input", {
        "class": "label-display", value: node.display || "", "data-key": key + ":display",
        // A short placeholder: at phone width the row is narrow and a longer one was cut off.
        "aria-label": "Display name of " + (node.choice || "this " + self.what) + " (optional)", placeholder: "display name",
        title: "Optional: the name labellers see instead of the label's own",
        on: { input: function (e) { node.display = e.target.value; self.changed(false); } }
      });
      // Dragging is for the mouse; the keys and buttons do the same from the keyboard.
      var handle = el("span", { "class": "drag-handle", draggable: "true", "aria-hidden": "true", title: "Drag to move; drop on the middle of a row to nest", text: "⠿",
        "data-key": key + ":drag",
        on: { dragstart: function (e) {
          self.dragging = here;
          e.dataTransfer.effectAllowed = "move";
          e.dataTransfer.setData("text/plain", node.choice || "");
          try { e.dataTransfer.setDragImage(row, 10, 10); } catch (err) { /* older browsers: the handle itself */ }
        }, dragend: function () {
          self.dragging = null;
          self.root.querySelectorAll(".drop-before, .drop-after, .drop-inside").forEach(function (r) { r.classList.remove("drop-before", "drop-after", "drop-inside"); });
        } } });
      var row = el("div", { "class": "tree-row" }, [handle, name, display]);
      function dropWhere(e) {
        var box = row.getBoundingClientRect();
        var y = (e.clientY - box.top) / Math.max(1, box.height);
        return y < 0.3 ? "before" : y > 0.7 ? "after" : "inside";
      }
      row.addEventListener("dragover", function (e) {
        if (!self.dragging) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = "move";
        var where = dropWhere(e);
        row.classList.toggle("drop-before", where === "before");
        row.classList.toggle("drop-after", where === "after");
        row.classList.toggle("drop-inside", where === "inside");
      });
      row.addEventListener("dragleave", function () { row.classList.remove("drop-before", "drop-after", "drop-inside"); });
      row.addEventListener("drop", function (e) {
        if (!self.dragging) return;
        e.preventDefault();
        var from = self.dragging, where = dropWhere(e);
        self.dragging = null;
        var moving = self.locate(from);
        if (moving && self.move(from, node, where)) {
          self.changed(true);
          self.announce(self.nameOf(moving.node) + (where === "inside" ? " is now under " : where === "before" ? " is now before " : " is now after ") + self.nameOf(node) + ".");
        } else {
          row.classList.remove("drop-before", "drop-after", "drop-inside");
        }
      });
      if (self.instance) {
        var instanceId = nextId("inst");
        row.appendChild(el("label", { "class": "check small-check", "for": instanceId }, [
          el("input", { type: "checkbox", id: instanceId, checked: node.instance_label === true, "data-key": key + ":inst",
            on: { change: function (e) {
              if (e.target.checked) node.instance_label = true; else delete node.instance_label;
              self.changed(false);
            } } }),
          "instance"
        ]));
      }
      var move = function (delta) {
        return function () {
          var target = index + delta;
          if (target < 0 || target >= nodes.length) return;
          nodes.splice(target, 0, nodes.splice(index, 1)[0]);
          self.changed(true);
          var moved = self.root.querySelector('[data-key="' + CSS.escape(self.keyPrefix + ":" + path.concat(target).join(".") + (delta < 0 ? ":up" : ":down")) + '"]');
          if (moved) moved.focus();
        };
      };
      var up = button("↑", "Move " + (node.choice || self.what) + " up", move(-1));
      up.setAttribute("data-key", key + ":up");
      up.disabled = index === 0;
      var down = button("↓", "Move " + (node.choice || self.what) + " down", move(1));
      down.setAttribute("data-key", key + ":down");
      down.disabled = index === nodes.length - 1;
      var sub = button("+ Sub", "Sub-" + self.what + " under " + (node.choice || "this " + self.what), function () {
        node.subchoices = node.subchoices || [];
        node.subchoices.push({ choice: "" });
        self.changed(true);
        var selector = '[data-key="' + CSS.escape(self.keyPrefix + ":" + here.concat(node.subchoices.length - 1).join(".") + ":name") + '"]';
        var input = self.root.querySelector(selector);
        if (input) { input.focus(); input.dataset.editing = "1"; }
      });
      sub.setAttribute("data-key", key + ":sub");
      var remove = button("✕", "Remove " + (node.choice || "this " + self.what), function () {
        nodes.splice(index, 1);
        self.changed(true);
      }, "danger");
      row.appendChild(el("span", { "class": "tree-buttons" }, [up, down, sub, remove]));
      var li = el("li", {}, [row]);
      if (node.subchoices && node.subchoices.length) li.appendChild(self.list(node.subchoices, here, depth + 1));
      ol.appendChild(li);
    });
    return ol;
  };

  // "From the library" menu: replaces a builder's state with a saved item.
  function libraryMenu(kind, apply) {
    var data = document.getElementById("composer-library");
    var items = data ? (JSON.parse(data.textContent)[kind] || []) : [];
    if (!items.length) return null;
    var id = nextId("lib");
    var select = el("select", { id: id, "class": "library-apply" }, [el("option", { value: "", text: "Choose…" })]
      .concat(items.map(function (item, i) { return el("option", { value: String(i), text: item.name }); })));
    var go = button("Apply", "Apply the chosen library item", function () {
      if (select.value === "") return;
      apply(JSON.parse(JSON.stringify(items[Number(select.value)].value)));
    });
    return el("div", { "class": "row library-row" }, [el("label", { "for": id, text: "From the library" }), select, go]);
  }

  // ---- builders ----------------------------------------------------------------------------
  function labelsBuilder(root, input) {
    var editor;
    function start(labels) {
      root.textContent = "";
      var menu = libraryMenu("labels", function (value) { start(value); commit(input, value); });
      if (menu) root.appendChild(menu);
      editor = new TreeEditor({ nodes: normalizeLabels(labels), instance: root.dataset.instance === "1", what: "label",
        keyPrefix: "labels", filterable: true, maxTop: Number(root.dataset.maxLabels || 0),
        onChange: function (value) { commit(input, value); } });
      root.appendChild(editor.root);
    }
    start(readJSON(input, []));
  }

  var GEOMETRY_LIMITS = {
    box: [["min_width", "Minimum width (px)"], ["min_height", "Minimum height (px)"]],
    polygon: [["min_vertices", "Minimum vertices"], ["max_vertices", "Maximum vertices"]],
    line: [["min_vertices", "Minimum vertices"], ["max_vertices", "Maximum vertices"]],
    point: [],
    cuboid: [["min_width", "Minimum width (px)"], ["min_height", "Minimum height (px)"],
      ["camera_intrinsics.fx", "Focal length fx"], ["camera_intrinsics.fy", "Focal length fy"],
      ["camera_intrinsics.cx", "Principal point cx"], ["camera_intrinsics.cy", "Principal point cy"],
      ["camera_intrinsics.skew", "Skew"], ["camera_intrinsics.scalefactor", "Scale factor"],
      ["camera_rotation_quaternion.w", "Rotation quaternion w"], ["camera_rotation_quaternion.x", "Rotation quaternion x"],
      ["camera_rotation_quaternion.y", "Rotation quaternion y"], ["camera_rotation_quaternion.z", "Rotation quaternion z"],
      ["camera_height", "Camera height"]],
    ellipse: []
  };
  var GEOMETRY_FLAGS = { box: [["can_rotate", "Boxes can be rotated"], ["integer_pixels", "Snap to whole pixels"]] };
  var GEOMETRY_HELP = {
    box: "Rectangles around objects.", polygon: "Outlines with any number of corners.",
    line: "Open polylines, e.g. lane markings.", point: "Single points, optionally connected in pairs (skeletons).",
    cuboid: "3D boxes; camera values make them geometrically exact.", ellipse: "Ellipses around round objects."
  };

  function numberField(obj, path, label, key, onChange) {
    var id = nextId("num");
    var value = getPath(obj, path);
    return el("div", { "class": "mini-field" }, [
      el("label", { "for": id, text: label }),
      el("input", { id: id, type: "text", inputmode: "decimal", "data-key": key, value: value === undefined ? "" : String(value),
        on: { input: function (e) { setPath(obj, path, parseNumber(e.target.value)); onChange(); } } })
    ]);
  }

  function flagField(obj, name, label, key, onChange) {
    var id = nextId("flag");
    return el("label", { "class": "check", "for": id }, [
      el("input", { type: "checkbox", id: id, "data-key": key, checked: obj[name] === true,
        on: { change: function (e) { if (e.target.checked) obj[name] = true; else delete obj[name]; onChange(); } } }),
      label
    ]);
  }

  // Video tasks: one label list for the whole task, and each geometry ticks which of its
  // top-level labels it offers (all by default). Scale has no task-level list for video, so what
  // is sent is still geometries.<kind>.objects_to_annotate, each the ticked labels in the task
  // list's order. A geometry whose list cannot be written that way (another order, the same
  // name defined differently, duplicates) keeps its own list, untouched, so an import comes back
  // exactly; "Use the task's labels" converts it.
  function taskLabelsInput() {
    var field = document.getElementById("id_task_labels_ui");
    if (!field) {
      // Named, so undo snapshots keep labels no geometry ticks; the server ignores it.
      field = el("input", { type: "hidden", name: "task_labels_ui", id: "id_task_labels_ui" });
      form.appendChild(field);
    }
    return field;
  }

  function geometriesBuilder(root, input) {
    var state = readJSON(input, {});
    if (!isObject(state)) state = {};
    var parked = {};  // settings of a geometry switched off, restored if it is switched on again
    var kinds = (root.dataset.kinds || "").split(",").filter(Boolean);
    var saved = taskLabelsInput();
    var shared = normalizeLabels(readJSON(saved, []));
    var picks = {}, own = {};
    var known = shared.slice();

    function nameList(list) { return list.map(function (n) { return n.choice; }); }
    function classify(kind) {
      var raw = state[kind].objects_to_annotate;
      var names = nameList(normalizeLabels(raw));
      var picked = shared.filter(function (n) { return names.indexOf(n.choice) >= 0; });
      var exact = JSON.stringify(serializeLabels(picked)) === JSON.stringify(raw === undefined ? [] : raw) &&
        picked.length === names.length;
      own[kind] = !exact;
      picks[kind] = exact ? picked : [];
    }
    (function derive() {
      var seen = {};
      shared.forEach(function (n) { seen[n.choice] = true; });
      kinds.forEach(function (kind) {
        if (!isObject(state[kind])) return;
        normalizeLabels(state[kind].objects_to_annotate).forEach(function (n) {
          if (!seen[n.choice]) { seen[n.choice] = true; shared.push(n); }
        });
      });
      known = shared.slice();
      kinds.forEach(function (kind) { if (isObject(state[kind])) classify(kind); });
      saved.value = shared.length ? JSON.stringify(serializeLabels(shared)) : "";
    })();

    // Writes a geometry's objects from its ticks; untouched when that gives what is there already.
    function write(kind) {
      var geometry = state[kind];
      if (!isObject(geometry) || own[kind]) return;
      picks[kind] = shared.filter(function (n) { return picks[kind].indexOf(n) >= 0; });
      var value = serializeLabels(picks[kind]);
      var current = geometry.objects_to_annotate === undefined ? [] : geometry.objects_to_annotate;
      if (JSON.stringify(value) !== JSON.stringify(current)) setPath(geometry, ["objects_to_annotate"], value.length ? value : undefined);
    }
    function changed() { commit(input, state); }

    function sharedChanged(structural) {
      var added = shared.filter(function (n) { return known.indexOf(n) < 0; });
      kinds.forEach(function (kind) {
        if (!isObject(state[kind]) || own[kind]) return;
        var hadAll = known.every(function (n) { return picks[kind].indexOf(n) >= 0 || shared.indexOf(n) < 0; });
        picks[kind] = picks[kind].filter(function (n) { return shared.indexOf(n) >= 0; });
        if (hadAll) picks[kind] = picks[kind].concat(added);
        write(kind);
      });
      known = shared.slice();
      saved.value = shared.length ? JSON.stringify(serializeLabels(shared)) : "";
      if (structural || added.length) withFocus(kindsBox, renderKinds);
      else refreshPickNames();
      changed();
    }

    var sharedEditor = new TreeEditor({ nodes: shared, instance: false, what: "label", keyPrefix: "task-labels", filterable: true,
      onChange: function () { sharedChanged(false); } });
    var structuralRender = sharedEditor.changed;
    sharedEditor.changed = function (structural) {
      structuralRender.call(sharedEditor, structural);
      if (structural) withFocus(kindsBox, renderKinds);
    };
    var kindsBox = el("div", { "class": "geometry-kinds" });

    function pickLabel(n, i) { return n.choice || "label " + (i + 1) + " (no name yet)"; }
    function refreshPickNames() {
      kindsBox.querySelectorAll("[data-pick-index]").forEach(function (span) {
        var i = Number(span.dataset.pickIndex);
        if (shared[i]) span.textContent = pickLabel(shared[i], i);
      });
    }

    function picker(kind) {
      var box = el("fieldset", { "class": "label-picker geometry-picks" }, [el("legend", { text: "Labels offered for " + kind })]);
      if (!shared.length) box.appendChild(el("p", { "class": "help", text: "Add labels for the task above; each shape offers the ones ticked here." }));
      shared.forEach(function (n, i) {
        var id = nextId("pick");
        box.appendChild(el("label", { "class": "check chip-check", "for": id }, [
          el("input", { type: "checkbox", id: id, checked: picks[kind].indexOf(n) >= 0, "data-key": "g:" + kind + ":pick:" + i,
            on: { change: function (e) {
              if (e.target.checked) picks[kind].push(n); else picks[kind] = picks[kind].filter(function (p) { return p !== n; });
              write(kind); changed();
            } } }),
          el("span", { "data-pick-index": String(i), text: pickLabel(n, i) })
        ]));
      });
      return box;
    }

    function ownList(kind, geometry) {
      var wrap = el("div", { "class": "own-objects" }, [
        el("p", { "class": "help", text: "This shape has its own list of objects (it differs from the task's labels in order or definition), kept exactly as it is." })
      ]);
      var editor = new TreeEditor({ nodes: normalizeLabels(geometry.objects_to_annotate), instance: false, what: "object",
        keyPrefix: "g-" + kind, onChange: function (value) { setPath(geometry, ["objects_to_annotate"], isEmpty(value) ? undefined : value); changed(); } });
      wrap.appendChild(editor.root);
      wrap.appendChild(button("Use the task's labels instead", "Use the task's label list for " + kind, function () {
        var list = normalizeLabels(geometry.objects_to_annotate);
        var names = nameList(shared);
        list.forEach(function (n) { if (names.indexOf(n.choice) < 0) { shared.push(n); names.push(n.choice); } });
        var mine = nameList(list);
        own[kind] = false;
        picks[kind] = shared.filter(function (n) { return mine.indexOf(n.choice) >= 0; });
        known = known.concat(shared.filter(function (n) { return known.indexOf(n) < 0; }));
        write(kind);
        saved.value = shared.length ? JSON.stringify(serializeLabels(shared)) : "";
        sharedEditor.render();
        renderKinds();
        changed();
        var first = root.querySelector('#geometry-' + kind + ' input[type="checkbox"][data-key^="g:' + kind + ':pick"]');
        if (first) first.focus();
      }));
      return wrap;
    }

    function renderKinds() {
      kindsBox.textContent = "";
      kinds.forEach(function (kind) {
        var on = isObject(state[kind]);
        var toggleId = "geometry-" + kind + "-on";
        var box = el("fieldset", { "class": "geometry" + (on ? " on" : ""), id: "geometry-" + kind }, [
          el("legend", {}, [el("label", { "class": "check", "for": toggleId }, [
            el("input", { type: "checkbox", id: toggleId, checked: on, "data-key": "g:" + kind + ":on", on: { change: function (e) {
              if (e.target.checked) {
                if (parked[kind]) { state[kind] = parked[kind]; classify(kind); }
                else { state[kind] = {}; own[kind] = false; picks[kind] = shared.slice(); write(kind); }
              } else { parked[kind] = state[kind]; delete state[kind]; }
              withFocus(kindsBox, renderKinds); changed();
            } } }),
            kind
          ])]),
          el("p", { "class": "help", text: GEOMETRY_HELP[kind] || "" })
        ]);
        if (on) {
          var geometry = state[kind];
          box.appendChild(own[kind] ? ownList(kind, geometry) : picker(kind));
          var limits = el("div", { "class": "grid three limits" });
          (GEOMETRY_LIMITS[kind] || []).forEach(function (spec) {
            limits.appendChild(numberField(geometry, spec[0].split("."), spec[1], "g:" + kind + ":" + spec[0], changed));
          });
          (GEOMETRY_FLAGS[kind] || []).forEach(function (spec) {
            limits.appendChild(flagField(geometry, spec[0], spec[1], "g:" + kind + ":" + spec[0], changed));
          });
          if (limits.childNodes.length) box.appendChild(limits);
          if (kind === "point") box.appendChild(connectionsEditor(geometry, changed, function () { withFocus(kindsBox, renderKinds); }));
        }
        kindsBox.appendChild(box);
      });
    }

    function render() {
      root.textContent = "";
      var menu = libraryMenu("geometries", function (value) {
        // A preset brings its own objects: start the task list again from them.
        commit(input, isObject(value) ? value : {});
        saved.value = "";
        geometriesBuilder(root, input);
      });
      if (menu) root.appendChild(menu);
      root.appendChild(el("section", { "class": "task-labels" }, [
        el("h3", { text: "Labels for this task" }),
        el("p", { "class": "help", text: "One list for the whole task; each shape below offers the labels ticked for it (all, unless you untick some)." }),
        sharedEditor.root
      ]));
      renderKinds();
      root.appendChild(kindsBox);
    }
    render();
  }

  function connectionsEditor(point, changed, rerender) {
    var wrap = el("div", { "class": "connections" }, [el("h4", { text: "Connections between points" })]);
    var connections = Array.isArray(point.connections) ? point.connections : [];
    var labels = leavesOf(point.objects_to_annotate);
    connections.forEach(function (connection, index) {
      var pair = Array.isArray(connection.pair) ? connection.pair : ["", ""];
      var selects = [0, 1].map(function (side) {
        var id = nextId("pair");
        var options = [el("option", { value: "", text: "choose a point label" })].concat(labels.map(function (label) {
          return el("option", { value: label, text: label, selected: pair[side] === label });
        }));
        return el("span", {}, [el("label", { "class": "sr-only", "for": id, text: (side ? "To" : "From") + " point label" }),
          el("select", { id: id, on: { change: function (e) {
            pair[side] = e.target.value; connection.pair = pair.slice(0, 2); changed();
          } } }, options)]);
      });
      var attrId = nextId("conn");
      wrap.appendChild(el("div", { "class": "row connection" }, selects.concat([
        el("label", { "class": "sr-only", "for": attrId, text: "Connection attribute (a linked attribute id)" }),
        el("input", { id: attrId, placeholder: "connection attribute (optional)", value: connection.connection_attribute || "",
          on: { input: function (e) { setPath(connection, ["connection_attribute"], e.target.value || undefined); changed(); } } }),
        button("✕", "Remove this connection", function () {
          connections.splice(index, 1);
          if (!connections.length) delete point.connections;
          changed(); rerender();
        }, "danger")
      ])));
    });
    wrap.appendChild(button("+ Connect two point labels", "", function () {
      connections.push({ pair: ["", ""] });
      point.connections = connections;
      changed(); rerender();
    }));
    return wrap;
  }

  function conditionValueValues(value) {
    if (typeof value === "string") return [value];
    return Array.isArray(value) ? value.filter(function (v) { return typeof v === "string"; }) : [];
  }

  function attributesBuilder(root, input) {
    var raw = readJSON(input, {});
    var entries = isObject(raw) ? Object.keys(raw).map(function (id) { return [id, raw[id]]; }) : [];
    var types = (root.dataset.types || "category").split(",");
    function serialize() {
      var out = {};
      entries.forEach(function (entry) { out[entry[0]] = entry[1]; });
      return out;
    }
    function changed() { commit(input, serialize()); }
    function rerender() { withFocus(root, render); }
    function choicesOf(id) {
      for (var i = 0; i < entries.length; i++) {
        if (entries[i][0] === id && isObject(entries[i][1]) && (entries[i][1].type || "category") === "category") {
          return leavesOf(entries[i][1].choices);
        }
      }
      return null;
    }

    // One attribute's card. Renaming an attribute redraws only the other cards (their condition
    // pickers list attribute ids): redrawing the card being typed in would take the focus, and
    // the next keystrokes, away from the person typing.
    function card(entry, index, leaves) {
      var def = isObject(entry[1]) ? entry[1] : (entry[1] = {});
      var key = "a" + index;
      var legend = el("legend", { text: "Attribute " + (index + 1) + (entry[0] ? ": " + entry[0] : "") });
      var idInput = el("input", { value: entry[0], "data-key": key + ":id", id: nextId("attr-id"), "class": "attr-id",
        on: {
          input: function (e) {
            entry[0] = e.target.value;
            legend.textContent = "Attribute " + (index + 1) + (entry[0] ? ": " + entry[0] : "");
            changed();
          },
          change: function (e) {
            // Conditions of other attributes follow a rename.
            var old = e.target.defaultValue, now = e.target.value;
            entries.forEach(function (other) {
              var groups = getPath(other[1], ["conditions", "attribute_conditions"]);
              (Array.isArray(groups) ? groups : []).forEach(function (group) {
                if (isObject(group) && old in group && !(now in group)) { group[now] = group[old]; delete group[old]; }
              });
            });
            e.target.defaultValue = now;
            changed();
            refreshOthers(box);
          }
        } });
      var typeSelect = el("select", { id: nextId("attr-type"), "data-key": key + ":type", on: { change: function (e) {
        def.type = e.target.value; changed(); rerender();
      } } }, types.map(function (t) { return el("option", { value: t, text: t, selected: (def.type || "category") === t }); }));
      var description = el("input", { id: nextId("attr-desc"), value: def.description || "", "data-key": key + ":desc",
        placeholder: "the question annotators see", on: { input: function (e) {
          setPath(def, ["description"], e.target.value || undefined); changed();
        } } });
      var box = el("fieldset", { "class": "attribute", id: "attribute-" + index }, [
        legend,
        el("div", { "class": "grid three" }, [
          el("div", { "class": "mini-field" }, [el("label", { "for": idInput.id, text: "Attribute id" }), idInput]),
          el("div", { "class": "mini-field" }, [el("label", { "for": typeSelect.id, text: "Type" }), typeSelect]),
          el("div", { "class": "mini-field" }, [el("label", { "for": description.id, text: "Question" }), description])
        ])
      ]);
      var type = def.type || "category";
      if (type === "category") {
        box.appendChild(el("h4", { text: "Choices" }));
        var choices = new TreeEditor({ nodes: normalizeLabels(def.choices), instance: false, what: "choice", keyPrefix: key + "c",
          onChange: function (value) { setPath(def, ["choices"], isEmpty(value) ? undefined : value); changed(); } });
        choices.root.setAttribute("data-choices", "1");  // where a "choices" problem is shown
        box.appendChild(choices.root);
        box.appendChild(flagField(def, "allow_multiple", "Several choices may be picked", key + ":multi", changed));
      } else if (type === "number") {
        box.appendChild(el("div", { "class": "grid three" }, [
          numberField(def, ["min"], "Minimum", key + ":min", changed),
          numberField(def, ["max"], "Maximum", key + ":max", changed),
          numberField(def, ["step"], "Step", key + ":step", changed)
        ]));
      } else if (type === "linked") {
        box.appendChild(labelPicker("May link to", def, ["allowed_labels"], leaves, key + ":allowed", changed));
        box.appendChild(flagField(def, "required", "A link is required", key + ":required", changed));
      }
      box.appendChild(conditionsEditor(entry, def, leaves, key, changed, rerender, choicesOf, entries));
      var name = function () { return entry[0] || "number " + (index + 1); };
      var up = button("↑", "Move attribute " + name() + " up", function () {
        if (index === 0) return;
        entries.splice(index - 1, 0, entries.splice(index, 1)[0]); changed(); rerender();
      });
      up.disabled = index === 0;
      var down = button("↓", "Move attribute " + name() + " down", function () {
        if (index === entries.length - 1) return;
        entries.splice(index + 1, 0, entries.splice(index, 1)[0]); changed(); rerender();
      });
      down.disabled = index === entries.length - 1;
      var remove = button("Remove attribute", "Remove attribute " + name(), function () {
        entries.splice(index, 1); changed(); rerender();
      }, "danger");
      idInput.addEventListener("input", function () {
        up.setAttribute("aria-label", "Move attribute " + name() + " up");
        down.setAttribute("aria-label", "Move attribute " + name() + " down");
        remove.setAttribute("aria-label", "Remove attribute " + name());
      });
      box.appendChild(el("div", { "class": "row" }, [up, down, remove]));
      return box;
    }

    var shownLeaves = null;
    function leavesKey() { return JSON.stringify(currentLeaves()); }

    function refreshOthers(keep) {
      var leaves = currentLeaves();
      entries.forEach(function (entry, index) {
        var old = root.querySelector(":scope > #attribute-" + index);
        if (old && old !== keep && !old.contains(document.activeElement)) old.replaceWith(card(entry, index, leaves));
      });
    }

    function render() {
      root.textContent = "";
      var menu = libraryMenu("attributes", function (value) {
        entries = isObject(value) ? Object.keys(value).map(function (id) { return [id, value[id]]; }) : [];
        render(); changed();
      });
      if (menu) root.appendChild(menu);
      var leaves = currentLeaves();
      shownLeaves = JSON.stringify(leaves);
      entries.forEach(function (entry, index) { root.appendChild(card(entry, index, leaves)); });
      root.appendChild(button("+ Add attribute", "", function () {
        var n = entries.length + 1;
        var id = "attribute_" + n;
        while (entries.some(function (e) { return e[0] === id; })) { n += 1; id = "attribute_" + n; }
        entries.push([id, { type: "category", description: "", choices: [] }]);
        changed(); render();
        var ids = root.querySelectorAll("input.attr-id");
        if (ids.length) ids[ids.length - 1].focus();
      }, "add"));
    }
    render();
    var generation = root.dataset.generation;
    document.addEventListener("composer:leaves", function () {
      if (root.dataset.generation !== generation) return;  // an undo restarted this builder
      // Label pickers follow the label builders: redraw only when the leaves really changed (a
      // change event can fire while the focus is between two fields, and a redraw then would
      // drop it), and never while someone types in here.
      if (leavesKey() !== shownLeaves && !root.contains(document.activeElement)) render();
    });
  }

  // Checkboxes for leaf labels, writing an array at `path` of `obj` (labels not among the
  // current leaves stay listed, so an unknown one can be seen and removed).
  function labelPicker(title, obj, path, leaves, key, changed) {
    var selected = conditionValueValues(getPath(obj, path));
    var all = leaves.concat(selected.filter(function (label) { return leaves.indexOf(label) < 0; }));
    var box = el("fieldset", { "class": "label-picker" }, [el("legend", { text: title })]);
    if (!all.length) box.appendChild(el("p", { "class": "help", text: "Add labels first; leaf labels appear here." }));
    all.forEach(function (label) {
      var id = nextId("pick");
      box.appendChild(el("label", { "class": "check chip-check" + (leaves.indexOf(label) < 0 ? " unknown" : ""), "for": id }, [
        el("input", { type: "checkbox", id: id, value: label, checked: selected.indexOf(label) >= 0, "data-key": key + ":" + label,
          on: { change: function (e) {
            var now = conditionValueValues(getPath(obj, path));
            if (e.target.checked) now.push(label); else now = now.filter(function (l) { return l !== label; });
            setPath(obj, path, now.length ? now : undefined);
            changed();
          } } }),
        label
      ]));
    });
    return box;
  }

  function conditionsEditor(entry, def, leaves, key, changed, rerender, choicesOf, entries) {
    var wrap = el("div", { "class": "conditions" }, [el("h4", { text: "When is it asked?" })]);
    wrap.appendChild(labelPicker("Only for these labels (none ticked: every label)", def,
      ["conditions", "label_condition", "label"], leaves, key + ":lc", changed));
    var groups = getPath(def, ["conditions", "attribute_conditions"]);
    groups = Array.isArray(groups) ? groups : [];
    function store() {
      setPath(def, ["conditions", "attribute_conditions"], groups.length ? groups : undefined);
      changed();
    }
    var others = entries.map(function (e) { return e[0]; }).filter(function (id) { return id && id !== entry[0]; });
    groups.forEach(function (group, g) {
      if (!isObject(group)) return;
      var box = el("fieldset", { "class": "condition-group" }, [
        el("legend", { text: (g ? "…or alternative " : "Only when, alternative ") + (g + 1) + " (all of these hold)" })
      ]);
      Object.keys(group).forEach(function (other) {
        var choices = choicesOf(other);
        var values = conditionValueValues(group[other]);
        var row = el("div", { "class": "row condition" });
        var selectId = nextId("cond-attr");
        row.appendChild(el("label", { "class": "sr-only", "for": selectId, text: "Attribute" }));
        row.appendChild(el("select", { id: selectId, "data-key": key + ":g" + g + ":" + other, on: { change: function (e) {
          var value = group[other];
          delete group[other];
          group[e.target.value] = value;
          store(); rerender();
        } } }, (others.indexOf(other) < 0 ? [other] : []).concat(others).map(function (id) {
          return el("option", { value: id, text: id, selected: id === other });
        })));
        row.appendChild(el("span", { text: "is" }));
        if (choices) {
          choices.concat(values.filter(function (v) { return choices.indexOf(v) < 0; })).forEach(function (choice) {
            var id = nextId("cond-val");
            row.appendChild(el("label", { "class": "check chip-check", "for": id }, [
              el("input", { type: "checkbox", id: id, checked: values.indexOf(choice) >= 0,
                "data-key": key + ":g" + g + ":" + other + ":" + choice, on: { change: function (e) {
                  var now = conditionValueValues(group[other]);
                  if (e.target.checked) now.push(choice); else now = now.filter(function (v) { return v !== choice; });
                  group[other] = now.length === 1 ? now[0] : now;
                  store();
                } } }),
              choice
            ]));
          });
        } else {
          var textId = nextId("cond-text");
          row.appendChild(el("label", { "class": "sr-only", "for": textId, text: "Value of " + other }));
          row.appendChild(el("input", { id: textId, value: values.join(", "), placeholder: "value", on: { input: function (e) {
            var parts = e.target.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
            group[other] = parts.length === 1 ? parts[0] : parts;
            store();
          } } }));
        }
        row.appendChild(button("✕", "Remove the condition on " + other, function () {
          delete group[other];
          if (!Object.keys(group).length) groups.splice(g, 1);
          store(); rerender();
        }, "danger"));
        box.appendChild(row);
      });
      if (others.length) {
        box.appendChild(button("+ and another attribute", "and another attribute in alternative " + (g + 1), function () {
          var free = others.filter(function (id) { return !(id in group); });
          if (!free.length) return;
          group[free[0]] = [];
          store(); rerender();
        }));
      }
      wrap.appendChild(box);
    });
    if (others.length) {
      wrap.appendChild(button(groups.length ? "+ or when…" : "+ Only when another attribute has a value…",
        groups.length ? "or when: an alternative condition on other attributes" : "", function () {
          var group = {};
          group[others[0]] = [];
          groups.push(group);
          store(); rerender();
        }));
    } else {
      wrap.appendChild(el("p", { "class": "help", text: "Add a second attribute to make this one depend on its answer." }));
    }
    return wrap;
  }

  function linksBuilder(root, input) {
    var raw = readJSON(input, {});
    var entries = isObject(raw) ? Object.keys(raw).map(function (name) { return [name, raw[name]]; }) : [];
    function changed() {
      var out = {};
      entries.forEach(function (e) { out[e[0]] = e[1]; });
      commit(input, out);
    }
    var shownLeaves = null;
    function render() {
      root.textContent = "";
      var leaves = currentLeaves();
      shownLeaves = JSON.stringify(leaves);
      entries.forEach(function (entry, index) {
        // A one-element array holding the definition is accepted too (reference §3.4): edit its object.
        var def = Array.isArray(entry[1]) && isObject(entry[1][0]) ? entry[1][0] : (isObject(entry[1]) ? entry[1] : (entry[1] = {}));
        var nameId = nextId("link");
        root.appendChild(el("fieldset", { "class": "link" }, [
          el("legend", { text: "Link " + (index + 1) }),
          el("label", { "for": nameId, text: "Link name" }),
          el("input", { id: nameId, value: entry[0], "data-key": "l" + index + ":name",
            on: { input: function (e) { entry[0] = e.target.value; changed(); } } }),
          flagField(def, "is_bidirectional", "Works both ways", "l" + index + ":bi", changed),
          labelPicker("From labels", def, ["from_allowed_labels"], leaves, "l" + index + ":from", changed),
          labelPicker("To labels", def, ["to_allowed_labels"], leaves, "l" + index + ":to", changed),
          button("Remove link", "Remove link " + entry[0], function () { entries.splice(index, 1); changed(); withFocus(root, render); }, "danger")
        ]));
      });
      root.appendChild(button("+ Add link", "Add link between annotations", function () {
        entries.push(["link_" + (entries.length + 1), { is_bidirectional: false, from_allowed_labels: [], to_allowed_labels: [] }]);
        changed(); render();
      }, "add"));
    }
    render();
    var generation = root.dataset.generation;
    document.addEventListener("composer:leaves", function () {
      if (root.dataset.generation !== generation) return;
      if (JSON.stringify(currentLeaves()) !== shownLeaves && !root.contains(document.activeElement)) render();
    });
  }

  function chipsBuilder(root, input) {
    var items = readJSON(input, []);
    if (!Array.isArray(items)) items = [];
    var max = root.dataset.max ? Number(root.dataset.max) : 0;
    var what = root.dataset.what || "item";
    var inputId = "chip-input-" + what;
    function render() {
      root.textContent = "";
      var list = el("ul", { "class": "chips", "aria-label": what + "s" });
      items.forEach(function (item, index) {
        list.appendChild(el("li", { "class": "chip" }, [String(item), button("×", "Remove " + what + " " + item, function () {
          items.splice(index, 1); commit(input, items); render();
          var field = document.getElementById(inputId);
          if (field) field.focus();
        }, "chip-remove")]));
      });
      root.appendChild(list);
      var full = max && items.length >= max;
      var entry = el("input", { id: inputId, "class": "chip-input", disabled: full,
        placeholder: full ? "" : "type " + (/^[aeiou]/.test(what) ? "an " : "a ") + what + " and press Enter",
        on: { keydown: function (e) { if (e.key === "Enter") { e.preventDefault(); add(e.target); } } } });
      root.appendChild(el("div", { "class": "row" }, [
        el("label", { "class": "sr-only", "for": inputId, text: "New " + what }), entry,
        el("button", { type: "button", "class": "small", disabled: full, text: "Add " + what,
          on: { click: function () { add(entry); } } })
      ]));
      if (max) {
        root.appendChild(el("p", { "class": "help chip-count" + (full ? " warn" : ""), "aria-live": "polite",
          text: items.length + " of " + max + " " + what + "s" + (full ? ": remove one to add another" : "") }));
      }
    }
    function add(field) {
      var value = field.value.trim();
      if (!value || (max && items.length >= max)) return;
      if (items.indexOf(value) < 0) items.push(value);
      commit(input, items);
      render();
      var again = document.getElementById(inputId);
      if (again && !again.disabled) again.focus();
    }
    render();
  }

  function metadataBuilder(root, input) {
    var raw = readJSON(input, {});
    var rows = isObject(raw) ? Object.keys(raw).map(function (key) {
      var value = raw[key];
      if (typeof value === "string") return { key: key, type: "text", raw: value };
      if (typeof value === "number") return { key: key, type: "number", raw: String(value) };
      return { key: key, type: "json", raw: JSON.stringify(value) };
    }) : [];
    function changed() {
      var out = {};
      rows.forEach(function (row) {
        row.error = "";
        if (!row.key) return;
        if (row.type === "number") out[row.key] = parseNumber(row.raw) === undefined ? "" : parseNumber(row.raw);
        else if (row.type === "json") {
          try { out[row.key] = JSON.parse(row.raw); } catch (e) { row.error = "not valid JSON, left out"; }
        } else out[row.key] = row.raw;
      });
      // Metadata values are the user's own: an empty one is still sent (build_payload keeps it).
      input.value = Object.keys(out).length ? JSON.stringify(out) : "";
      input.dispatchEvent(new CustomEvent("composer:changed", { bubbles: true }));
      rows.forEach(function (row, i) {
        var note = root.querySelector('[data-row-error="' + i + '"]');
        if (note) note.textContent = row.error || "";
      });
    }
    function render() {
      root.textContent = "";
      rows.forEach(function (row, index) {
        var keyId = nextId("meta-key"), typeId = nextId("meta-type"), valueId = nextId("meta-value");
        root.appendChild(el("div", { "class": "row meta-row" }, [
          el("label", { "class": "sr-only", "for": keyId, text: "Key" }),
          el("input", { id: keyId, "class": "meta-key", placeholder: "key", value: row.key, "data-key": "m" + index + ":k",
            on: { input: function (e) { row.key = e.target.value; changed(); } } }),
          el("label", { "class": "sr-only", "for": typeId, text: "Kind of value" }),
          el("select", { id: typeId, "class": "meta-type", "data-key": "m" + index + ":t", on: { change: function (e) { row.type = e.target.value; changed(); } } },
            [["text", "text"], ["number", "number"], ["json", "JSON"]].map(function (o) {
              return el("option", { value: o[0], text: o[1], selected: row.type === o[0] });
            })),
          el("label", { "class": "sr-only", "for": valueId, text: "Value" }),
          el("input", { id: valueId, "class": "meta-value", placeholder: "value", value: row.raw, "data-key": "m" + index + ":v",
            on: { input: function (e) { row.raw = e.target.value; changed(); } } }),
          button("✕", "Remove metadata " + (row.key || "row"), function () { rows.splice(index, 1); changed(); withFocus(root, render); }, "danger"),
          el("span", { "class": "error", "data-row-error": String(index) })
        ]));
      });
      root.appendChild(button("+ Add metadata", "Add metadata key and value", function () {
        rows.push({ key: "", type: "text", raw: "" }); render();
        var keys = root.querySelectorAll("input.meta-key");
        keys[keys.length - 1].focus();
      }, "add"));
    }
    render();
  }

  // ---- media previews ----------------------------------------------------------------------
  function httpUrl(value) { return /^https?:\/\/[^\s]+$/i.test(value || ""); }
  function lines(id) {
    var field = document.getElementById(id);
    return field ? field.value.split(/\r?\n/).map(function (s) { return s.trim(); }).filter(Boolean) : [];
  }

  function failed(url, what) {
    return el("p", { "class": "media-error", text: "Could not load " + what + " " + url + " in this browser. " +
      "Scale fetches it, not this page, so you can still submit if the URL works for Scale." });
  }

  // s3://, gs:// and scaledata:// are attachments Scale reads itself (scale_rules.is_storage_url);
  // a browser cannot, so they get a placeholder instead of an error.
  var STORAGE = { s3: "Scale reads s3:// with your bucket policy; no preview here.",
    gs: "Scale reads gs:// with your bucket's permissions; no preview here.",
    scaledata: "A file uploaded to Scale (scaledata://); no preview here." };
  function storageNote(url) {
    var scheme = /^([a-z0-9]+):\/\/\S+$/i.exec(url || "");
    var key = scheme ? scheme[1].toLowerCase() : "";
    return Object.prototype.hasOwnProperty.call(STORAGE, key) ? STORAGE[key] : undefined;
  }

  function mediaElement(tag, url, what, attrs) {
    var note = storageNote(url);
    if (note) return el("p", { "class": "media-storage help", text: what + " " + url + ": " + note });
    if (!httpUrl(url)) return el("p", { "class": "media-error", text: "Not an http(s) URL: " + url });
    var node = el(tag, Object.assign({ src: url, alt: what + " " + url }, attrs || {}));
    node.addEventListener("error", function () { node.replaceWith(failed(url, what)); });
    return node;
  }

  function renderMedia() {
    var box = document.getElementById("media-preview");
    if (!box) return;
    var type = form.dataset.taskType;
    var attachment = (document.getElementById("id_attachment") || {}).value || "";
    attachment = attachment.trim();
    var frames = lines("id_attachments");
    var context = lines("id_context_attachments");
    box.textContent = "";
    if (attachment) {
      if (type === "segmentannotation") {
        box.appendChild(el("figure", { "class": "media-main" }, [mediaElement("img", attachment, "image", { id: "preview-image" })]));
      } else {
        var video = mediaElement("video", attachment, "video", { controls: true, preload: "metadata", muted: true, id: "preview-video" });
        if (video.tagName === "VIDEO") video.removeAttribute("alt");
        box.appendChild(el("figure", { "class": "media-main" }, [video]));
      }
    }
    if (frames.length) {
      box.appendChild(el("p", { "class": "help", text: frames.length + " frame" + (frames.length === 1 ? "" : "s") }));
      // Frames in a bucket or uploaded to Scale: one note per kind, not a filmstrip of notes.
      var stored = {};
      frames.forEach(function (url) { var note = storageNote(url); if (note) stored[note] = (stored[note] || 0) + 1; });
      Object.keys(stored).forEach(function (note) {
        box.appendChild(el("p", { "class": "media-storage help", text: stored[note] + " frame" + (stored[note] === 1 ? "" : "s") + ": " + note }));
      });
      var shown = frames.map(function (url, i) { return [url, i]; }).filter(function (pair) { return !storageNote(pair[0]); });
      if (shown.length) box.appendChild(el("div", { "class": "filmstrip" }, shown.slice(0, 60).map(function (pair) {
        return el("figure", {}, [mediaElement("img", pair[0], "frame " + (pair[1] + 1), { loading: "lazy" }), el("figcaption", { text: String(pair[1] + 1) })]);
      })));
    }
    if (context.length) {
      box.appendChild(el("p", { "class": "help", text: "Context images" }));
      box.appendChild(el("div", { "class": "thumbs" }, context.map(function (url) { return mediaElement("img", url, "context image", { loading: "lazy" }); })));
    }
    if (!box.childNodes.length) box.appendChild(el("p", { "class": "muted", text: "A preview of the attachment appears here." }));
    renderOverlays();
  }

  function hexColor(value, fallback) {
    return /^#[0-9a-f]{6}$/i.test(value || "") ? value : fallback;
  }

  var PALETTE = ["#e03131", "#2f9e44", "#1971c2", "#f08c00", "#9c36b5", "#0c8599", "#e8590c", "#5c940d"];

  // Segmentation: the hypothesis mask, coloured by labelMapping, over the image, with a legend.
  function renderHypothesis(target) {
    var field = document.getElementById("id_hypothesis_json");
    var hypothesis = readJSON(field, null);
    target.textContent = "";
    if (!isObject(hypothesis)) return;
    var mask = getPath(hypothesis, ["annotations", "combined", "indexedImage"]);
    var mapping = isObject(hypothesis.labelMapping) ? hypothesis.labelMapping : {};
    var colors = {};  // index -> [r, g, b]
    var legend = el("ul", { "class": "legend" });
    Object.keys(mapping).forEach(function (label, i) {
      (Array.isArray(mapping[label]) ? mapping[label] : [mapping[label]]).forEach(function (entry, j) {
        if (!isObject(entry) || typeof entry.index !== "number") return;
        var color = hexColor(entry.color, PALETTE[(i + j) % PALETTE.length]);
        colors[entry.index] = window.annotator.hexToRgb(color);
        var swatch = el("span", { "class": "swatch" });
        swatch.style.background = color;
        legend.appendChild(el("li", {}, [swatch, label + (Array.isArray(mapping[label]) ? " #" + (j + 1) : "") + " (index " + entry.index + ")"]));
      });
    });
    if (!httpUrl(mask)) return;
    var attachment = ((document.getElementById("id_attachment") || {}).value || "").trim();
    var canvas = el("canvas", { "class": "overlay-canvas", "aria-label": "Hypothesis mask over the image", role: "img" });
    var status = el("p", { "class": "help", text: "Loading the hypothesis mask…" });
    target.appendChild(el("h3", { text: "Hypothesis over the image" }));
    target.appendChild(canvas);
    target.appendChild(status);
    target.appendChild(legend);
    var maskImage = new Image();
    // Same-origin copy through the guarded fetcher: reading mask pixels needs an untainted canvas.
    maskImage.src = form.dataset.mediaProxy + "?url=" + encodeURIComponent(mask);
    maskImage.addEventListener("error", function () {
      status.textContent = "Could not load the mask " + mask + " (only public PNG, JPEG, WebP or GIF images are fetched).";
      status.classList.add("media-error");
    });
    maskImage.addEventListener("load", function () {
      var w = maskImage.naturalWidth, h = maskImage.naturalHeight;
      canvas.width = w; canvas.height = h;
      var work = document.createElement("canvas");
      work.width = w; work.height = h;
      var wctx = work.getContext("2d");
      var pixels = window.annotator.paintMask(wctx.createImageData(w, h), window.annotator.maskIndices(maskImage), colors, 140);
      wctx.putImageData(pixels, 0, 0);
      var ctx = canvas.getContext("2d");
      function overlay() { ctx.drawImage(work, 0, 0); status.textContent = "Mask " + w + "×" + h + " drawn over the image."; }
      if (!httpUrl(attachment)) { overlay(); return; }
      var base = new Image();
      base.addEventListener("load", function () { ctx.drawImage(base, 0, 0, w, h); overlay(); });
      base.addEventListener("error", function () { overlay(); status.textContent += " (the image itself could not be loaded)"; });
      base.src = attachment;
    });
  }

  // Video: base annotation boxes (left/top/width/height) over the first frame.
  function boxesOf(annotations) {
    var boxes = [];
    (function walk(value, depth) {
      if (depth > 4) return;
      if (Array.isArray(value)) value.forEach(function (v) { walk(v, depth + 1); });
      else if (isObject(value)) {
        if (["left", "top", "width", "height"].every(function (k) { return typeof value[k] === "number"; })) boxes.push(value);
        else Object.keys(value).forEach(function (k) { walk(value[k], depth + 1); });
      }
    })(annotations, 0);
    return boxes;
  }

  function renderBase(target) {
    var field = document.getElementById("id_base_annotations_json");
    var base = readJSON(field, null);
    target.textContent = "";
    if (!isObject(base) || !Array.isArray(base.annotations)) return;
    var boxes = boxesOf(base.annotations).slice(0, 500);
    if (!boxes.length) {
      target.appendChild(el("p", { "class": "help", text: "No boxes (left, top, width, height) to draw among the base annotations." }));
      return;
    }
    var canvas = el("canvas", { "class": "overlay-canvas", role: "img", "aria-label": boxes.length + " base annotation boxes over the first frame" });
    target.appendChild(el("h3", { text: "Base annotations over the first frame" }));
    target.appendChild(canvas);
    var status = el("p", { "class": "help" });
    target.appendChild(status);
    var w = 0, h = 0;
    boxes.forEach(function (b) { w = Math.max(w, b.left + b.width); h = Math.max(h, b.top + b.height); });
    function draw(source, sw, sh) {
      canvas.width = sw || Math.max(64, Math.ceil(w + 10));
      canvas.height = sh || Math.max(64, Math.ceil(h + 10));
      var ctx = canvas.getContext("2d");
      ctx.fillStyle = "#222"; ctx.fillRect(0, 0, canvas.width, canvas.height);
      if (source) { try { ctx.drawImage(source, 0, 0, canvas.width, canvas.height); } catch (e) { /* not decodable: boxes alone */ } }
      ctx.lineWidth = 2; ctx.font = "14px sans-serif";
      boxes.forEach(function (b, i) {
        ctx.strokeStyle = PALETTE[i % PALETTE.length]; ctx.fillStyle = ctx.strokeStyle;
        ctx.strokeRect(b.left, b.top, b.width, b.height);
        if (b.label) ctx.fillText(String(b.label), b.left + 2, Math.max(12, b.top - 3));
      });
      status.textContent = boxes.length + " box" + (boxes.length === 1 ? "" : "es") + " drawn" + (source ? "" : " (no frame could be loaded; boxes alone)") + ".";
    }
    draw(null);
    var attachment = ((document.getElementById("id_attachment") || {}).value || "").trim();
    var frames = lines("id_attachments");
    if (frames.length && httpUrl(frames[0])) {
      var img = new Image();
      img.addEventListener("load", function () { draw(img, img.naturalWidth, img.naturalHeight); });
      img.src = frames[0];
    } else if (httpUrl(attachment)) {
      var video = document.createElement("video");
      video.muted = true; video.preload = "auto";
      video.addEventListener("loadeddata", function () { draw(video, video.videoWidth, video.videoHeight); });
      video.src = attachment;
    }
  }

  function renderOverlays() {
    var hypothesis = document.getElementById("hypothesis-preview");
    if (hypothesis) renderHypothesis(hypothesis);
    var base = document.getElementById("base-preview");
    if (base) renderBase(base);
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }

  // ---- start -------------------------------------------------------------------------------
  var BUILDERS = { labels: labelsBuilder, geometries: geometriesBuilder, attributes: attributesBuilder,
    links: linksBuilder, chips: chipsBuilder, metadata: metadataBuilder };

  // ---- raw JSON mode: any builder can be edited as the JSON it writes ------------------------
  // The textarea has no name: the builder's hidden field stays the one source of truth (undo,
  // draft, preview). Text that does not parse stays in the box with the parser's message, and
  // neither the field nor the visual editor changes until it parses.
  function jsonText(input) {
    if (!input.value.trim()) return "";
    try { return JSON.stringify(JSON.parse(input.value), null, 2); } catch (e) { return input.value; }
  }

  function jsonMode(root, input) {
    if (root.dataset.jsonReady) return;
    root.dataset.jsonReady = "1";
    var label = root.dataset.jsonLabel || (root.dataset.what ? root.dataset.what + "s" : input.name.replace(/_json$/, ""));
    var areaId = "json-" + input.id, errorId = "json-error-" + input.id;
    var area = el("textarea", { id: areaId, "class": "builder-json", rows: 10, spellcheck: "false", hidden: true,
      "aria-describedby": errorId, "data-key": "json:" + input.id });
    var error = el("p", { "class": "error json-error", id: errorId, role: "alert", hidden: true });
    // The name starts with the visible text (voice control users say what they see); the
    // text itself says the state, so there is no aria-pressed to announce it twice.
    var toggle = el("button", { type: "button", "class": "small json-toggle", "aria-controls": areaId,
      "data-json-toggle": input.id, "data-what": label, text: "Edit as JSON", "aria-label": "Edit as JSON: " + label });
    var bar = el("div", { "class": "row json-bar" }, [toggle]);
    root.parentNode.insertBefore(bar, root);
    root.parentNode.insertBefore(area, root.nextSibling);
    area.parentNode.insertBefore(error, area.nextSibling);
    function showError(message) {
      error.textContent = message;
      error.hidden = !message;
      if (message) area.setAttribute("aria-invalid", "true"); else area.removeAttribute("aria-invalid");
    }
    function parse() {
      if (!area.value.trim()) return { ok: true, value: undefined };
      try { return { ok: true, value: JSON.parse(area.value) }; } catch (e) {
        return { ok: false, message: "Not valid JSON (" + e.message + "). Your text is kept here; the " + label +
          " stay as they were until it parses." };
      }
    }
    area.addEventListener("input", function (e) {
      e.stopPropagation();  // not a form field of its own: the hidden field below is
      var result = parse();
      if (!result.ok) { showError(result.message); return; }
      showError("");
      var before = input.value.trim() ? readJSON(input, undefined) : undefined;
      if (JSON.stringify(before) === JSON.stringify(result.value)) return;
      commit(input, result.value === undefined ? "" : result.value);
    });
    area.addEventListener("change", function (e) { e.stopPropagation(); });
    toggle.addEventListener("click", function () {
      if (root.dataset.jsonMode === "1") {
        var result = parse();
        if (!result.ok) { showError(result.message + " Fix it to go back to the editor."); area.focus(); return; }
        root.dataset.jsonMode = "";
        restartBuilder(root);
      } else {
        root.dataset.jsonMode = "1";
        area.value = jsonText(input);
        showError("");
      }
      syncJsonMode(root);
      (root.dataset.jsonMode === "1" ? area : toggle).focus();
    });
  }

  function syncJsonMode(root) {
    var on = root.dataset.jsonMode === "1";
    var input = document.getElementById(root.dataset.target);
    var area = document.getElementById("json-" + root.dataset.target);
    var toggle = form.querySelector('[data-json-toggle="' + root.dataset.target + '"]');
    if (!area || !toggle) return;
    root.hidden = on;
    area.hidden = !on;
    toggle.textContent = on ? "Back to the editor" : "Edit as JSON";
    toggle.setAttribute("aria-label", toggle.textContent + ": " + toggle.dataset.what);
    var error = document.getElementById("json-error-" + root.dataset.target);
    if (!on && error) { error.hidden = true; area.removeAttribute("aria-invalid"); }
    // After an undo or redo the box shows the field as restored.
    if (on && input && document.activeElement !== area) area.value = jsonText(input);
  }

  function restartBuilder(root) {
    var input = document.getElementById(root.dataset.target);
    root.dataset.generation = String(Number(root.dataset.generation || 0) + 1);
    if (input) BUILDERS[root.dataset.builder](root, input);
  }

  // (Re)starts every builder from its hidden field; an undo restores the fields and calls this.
  function startBuilders() {
    // Builders that list labels must start after the label builders exist.
    var order = ["labels", "geometries", "chips", "metadata", "attributes", "links"];
    order.forEach(function (kind) {
      form.querySelectorAll('[data-builder="' + kind + '"]').forEach(function (root) {
        var input = document.getElementById(root.dataset.target);
        root.dataset.generation = String(Number(root.dataset.generation || 0) + 1);
        if (input) { BUILDERS[kind](root, input); jsonMode(root, input); }
        if (input && root.dataset.jsonMode === "1") {
          var area = document.getElementById("json-" + input.id);
          if (area) { area.value = jsonText(input); area.removeAttribute("aria-invalid"); }
          var error = document.getElementById("json-error-" + input.id);
          if (error) error.hidden = true;
        }
        syncJsonMode(root);
      });
    });
  }

  // ---- never lose work: undo/redo across every field and builder, a draft kept as you type --
  var history = [], future = [], current = null, dirty = false;
  var HISTORY_LIMIT = 200;

  function snapshot() {
    var state = {};
    Array.prototype.forEach.call(form.elements, function (node) {
      if (!node.name || node.name === "import_json" || node.name === "csrfmiddlewaretoken") return;
      if (node.type === "submit" || node.type === "button" || node.type === "file") return;
      state[node.name] = node.value;
    });
    return state;
  }

  function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  // Called (debounced) after any change: one undo step per burst of typing or per builder action.
  function record() {
    var now = snapshot();
    if (current && same(now, current)) return;
    if (current) { history.push(current); if (history.length > HISTORY_LIMIT) history.shift(); }
    current = now;
    future = [];
    historyButtons();
    markDirty();
  }
  var recordSoon = debounce(record, 350);

  function restore(state) {
    Array.prototype.forEach.call(form.elements, function (node) {
      if (node.name && Object.prototype.hasOwnProperty.call(state, node.name)) node.value = state[node.name];
    });
    current = state;
    startBuilders();
    renderMedia();
    form.dispatchEvent(new CustomEvent("composer:changed", { bubbles: true }));
    document.dispatchEvent(new CustomEvent("composer:leaves"));
    historyButtons();
    markDirty();
  }

  function undo() {
    record();  // a pending burst of typing becomes its own step first
    if (!history.length) return;
    future.push(current);
    restore(history.pop());
    announce("Undone.");
  }

  function redo() {
    if (!future.length) return;
    history.push(current);
    restore(future.pop());
    announce("Redone.");
  }

  function historyButtons() {
    var undoButton = document.getElementById("undo-button"), redoButton = document.getElementById("redo-button");
    if (undoButton) undoButton.disabled = !history.length && same(snapshot(), current);
    if (redoButton) redoButton.disabled = !future.length;
  }

  function announce(text) {
    var status = document.getElementById("draft-status");
    if (status) status.textContent = text;
  }

  function draftBody() {
    var body = new FormData(form);
    body.delete("import_json");
    return body;
  }

  function markDirty() {
    dirty = true;
    saveDraftSoon();
  }

  function saveDraft() {
    if (!form.dataset.draftUrl || form.dataset.submitting) return;
    var sent = JSON.stringify(current);
    fetch(form.dataset.draftUrl, { method: "POST", body: draftBody(), credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (!answer || !answer.saved) { announce("Draft not saved: it is kept in this page only."); return; }
        if (JSON.stringify(current) === sent) dirty = false;
        announce("Draft saved at " + answer.at + ".");
      })
      .catch(function () { announce("Draft not saved (offline?): keep this page open."); });
  }
  var saveDraftSoon = debounce(saveDraft, 1200);

  function start() {
    form = document.getElementById("compose-form");
    if (!form) return;
    startBuilders();
    form.querySelectorAll("input[data-json-into]").forEach(function (upload) {
      upload.addEventListener("change", function () {
        var file = upload.files && upload.files[0];
        if (!file) return;
        var reader = new FileReader();
        reader.addEventListener("load", function () {
          var target = document.getElementById(upload.dataset.jsonInto);
          target.value = String(reader.result);
          target.dispatchEvent(new Event("input", { bubbles: true }));
          target.dispatchEvent(new Event("change", { bubbles: true }));
        });
        reader.readAsText(file);
      });
    });
    // Once the form is really submitted, no new preview may start: the page is going away,
    // and a request cut off by the navigation is only noise.
    form.addEventListener("submit", function () { form.dataset.submitting = "1"; });
    form.addEventListener("htmx:confirm", function (e) { if (form.dataset.submitting) e.preventDefault(); });
    // Enter in a builder's own inputs must not submit the whole form.
    form.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && e.target.tagName === "INPUT" && !e.target.name && e.target.closest(".builder")) e.preventDefault();
    });
    var media = debounce(renderMedia, 350);
    ["id_attachment", "id_attachments", "id_context_attachments", "id_attachment_type"].forEach(function (id) {
      var field = document.getElementById(id);
      if (field) field.addEventListener("input", media);
    });
    var overlays = debounce(renderOverlays, 400);
    ["id_hypothesis_json", "id_base_annotations_json"].forEach(function (id) {
      var field = document.getElementById(id);
      if (field) { field.addEventListener("input", overlays); field.addEventListener("change", overlays); }
    });
    ["input", "change"].forEach(function (type) {
      form.addEventListener(type, function (e) {
        var target = e.target;
        if (target.name) touch(target.name);
        var builder = target.closest && target.closest(".builder");
        if (builder) { var hidden = document.getElementById(builder.dataset.target); if (hidden) touch(hidden.name); }
      });
    });
    document.addEventListener("htmx:afterSettle", function () {
      placeIssues();
      // The refused submit's summary is about the form as it was sent: once the live preview finds
      // nothing left to fix, it would only contradict the "Valid" beside it.
      var refused = document.getElementById("validate-errors");
      if (refused && document.getElementById("preview-valid")) refused.remove();
    });
    document.addEventListener("click", function (e) {
      var link = e.target.closest && e.target.closest("a.issue-link");
      if (link && goToIssue(link)) e.preventDefault();
    });
    form.querySelectorAll("button[data-sample-field]").forEach(function (sample) {
      sample.addEventListener("click", function () { useSample(sample); });
    });
    renderMedia();
    placeIssues();
    caretAtImportError();
    current = snapshot();
    ["input", "change", "composer:changed"].forEach(function (type) {
      form.addEventListener(type, function (e) {
        if (e.target && e.target.id === "library-name") return;
        dirty = true;  // at once: a click away right after typing must still be asked about
        recordSoon();
      });
    });
    var undoButton = document.getElementById("undo-button"), redoButton = document.getElementById("redo-button");
    if (undoButton) undoButton.addEventListener("click", undo);
    if (redoButton) redoButton.addEventListener("click", redo);
    historyButtons();
    document.addEventListener("keydown", function (e) {
      if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
      var key = e.key.toLowerCase();
      if (key !== "z" && key !== "y") return;
      // The paste box and the builders' JSON boxes keep the browser's own undo of their text (a
      // JSON box writes its field whenever the text parses, so that undo reaches the field too).
      if (e.target && (e.target.id === "import-json" || (e.target.classList && e.target.classList.contains("builder-json")))) return;
      e.preventDefault();
      if (key === "y" || e.shiftKey) redo(); else undo();
    });
    // Leaving with changes not yet kept as a draft: ask first, and send them on the way out.
    window.addEventListener("beforeunload", function (e) {
      if (!dirty || form.dataset.submitting) return;
      if (navigator.sendBeacon && form.dataset.draftUrl) navigator.sendBeacon(form.dataset.draftUrl, draftBody());
      e.preventDefault();
      e.returnValue = "";
    });
  }

  // The sandbox's sample media: one click fills the field and shows the preview. Frames replace a
  // video attachment on videoannotation, which takes one or the other.
  function useSample(sample) {
    var field = document.getElementById(sample.dataset.sampleField);
    if (!field) return;
    field.value = sample.dataset.sampleValue;
    var attachment = document.getElementById("id_attachment");
    if (field.id === "id_attachments" && attachment && form.dataset.taskType === "videoannotation") attachment.value = "";
    [field, attachment].forEach(function (node) {
      if (!node) return;
      node.dispatchEvent(new Event("input", { bubbles: true }));
      node.dispatchEvent(new Event("change", { bubbles: true }));
    });
    renderMedia();
  }

  // ---- problems where the eye is -----------------------------------------------------------
  // The control a problem belongs to: the field itself, or inside a builder the input its path
  // names (geometries.box.min_width, labels[1], annotation_attributes.color.description).
  function controlFor(name, path, exactOnly) {
    var field = document.getElementById("id_" + name);
    var builder = form.querySelector('.builder[data-target="id_' + name + '"]');
    if (builder) {
      var exact = builderControl(builder, path || "");
      if (exact || exactOnly) return exact;
      // The first thing to do there (the filter box only narrows what is shown).
      return builder.querySelector("input:not(.tree-filter), select, textarea, button") || builder;
    }
    if (field && field.type !== "hidden") return field;
    return null;
  }

  function builderControl(builder, path) {
    var m = /^geometries\.(\w+)(?:\.(.+))?$/.exec(path);
    if (m) {
      var inKind = m[2] ? builder.querySelector('[data-key="g:' + m[1] + ":" + CSS.escape(m[2]) + '"]') : null;
      var box = builder.querySelector("#geometry-" + CSS.escape(m[1]));
      return inKind || (box && box.querySelector("input, select")) || null;
    }
    m = /^labels((?:\[\d+\](?:\.subchoices)?)+)/.exec(path);
    if (m) {
      var indices = (m[1].match(/\d+/g) || []).join(".");
      return builder.querySelector('[data-key="labels:' + indices + ':name"]');
    }
    m = /^annotation_attributes\.([^.\[]+)(?:\.(\w+))?/.exec(path);
    if (m) {
      var ids = builder.querySelectorAll("input.attr-id");
      for (var i = 0; i < ids.length; i++) {
        if (ids[i].value !== m[1]) continue;
        var card = ids[i].closest("fieldset.attribute");
        if (m[2] === "description") return card.querySelector('[data-key$=":desc"]');
        if (m[2] === "type") return card.querySelector('[data-key$=":type"]');
        if (m[2] === "choices") {
          // "choices is required" belongs under Choices: its first field, or its "+ Add" button.
          var tree = card.querySelector("[data-choices]");
          var first = tree && tree.querySelector("input:not(.tree-filter), button");
          if (first) return first;
        }
        var own = m[2] && card.querySelector('[data-key$=":' + m[2] + '"]');  // min, max, step, ...
        return own || ids[i];
      }
    }
    return null;
  }

  // After each preview: outline and label every control with an error for screen readers, and
  // move a builder's problems next to the part of the builder they are about.
  function placeIssues() {
    form.querySelectorAll("[data-issue-marked]").forEach(function (node) {
      node.removeAttribute("aria-invalid");
      node.removeAttribute("data-issue-marked");
    });
    form.querySelectorAll(".local-issues").forEach(function (node) { node.remove(); });
    form.querySelectorAll(".issues p.placed").forEach(function (node) { node.classList.remove("placed"); });
    form.querySelectorAll(".issues[id^='issues-']").forEach(function (box) {
      var name = box.id.slice("issues-".length);
      var errors = box.querySelectorAll("p.error");
      var fieldWrap = document.getElementById("field-" + name);
      if (fieldWrap) fieldWrap.classList.toggle("has-error", errors.length > 0);
      box.querySelectorAll("p[data-path]").forEach(function (p) {
        // A problem of a whole builder (e.g. "labels") stays below it, and marks the builder.
        var control = controlFor(name, p.dataset.path, true) ||
          form.querySelector('.builder[data-target="id_' + name + '"]') || controlFor(name, p.dataset.path);
        if (!control) return;
        if (p.classList.contains("error")) {
          control.setAttribute("aria-invalid", "true");
          control.setAttribute("data-issue-marked", "1");
          if (!p.id) p.id = nextId("issue");
          var described = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
          if (described.indexOf(p.id) < 0 && described.indexOf(box.id) < 0) described.push(box.id);
          control.setAttribute("aria-describedby", described.join(" "));
        }
        // Inside a builder, a copy of the message sits right below the control it is about.
        if (control.closest(".builder") && control.tagName !== "DIV") {
          var row = control.closest(".tree-row, .mini-field, [data-choices], fieldset") || control.parentNode;
          var text = p.textContent.indexOf(p.dataset.path + ": ") === 0 ? p.textContent.slice(p.dataset.path.length + 2) : p.textContent;
          // Seen here; still read out from the builder's own list, which the control names.
          row.appendChild(el("div", { "class": "issues local-issues", "aria-hidden": "true" }, [
            el("p", { "class": p.className.replace(" placed", ""), text: text })
          ]));
          p.classList.add("placed");
        }
      });
    });
  }

  // A problem in a summary is a link: it scrolls to its field and puts the focus there.
  function goToIssue(link) {
    var control = controlFor(link.dataset.field, link.dataset.path || "");
    var box = document.getElementById("issues-" + link.dataset.field);
    var target = control || box;
    if (!target) return false;
    target.scrollIntoView({ block: "center" });
    if (control && typeof control.focus === "function") control.focus({ preventScroll: true });
    return true;
  }

  // A paste that could not be read comes back in its box: put the caret where it goes wrong.
  function caretAtImportError() {
    var box = document.getElementById("import-json");
    if (!box || !box.dataset.errorLine) return;
    var line = Number(box.dataset.errorLine), column = Number(box.dataset.errorColumn || 1);
    var rows = box.value.split("\n");
    var offset = 0;
    for (var i = 0; i < Math.min(line - 1, rows.length); i++) offset += rows[i].length + 1;
    offset = Math.min(box.value.length, offset + Math.max(0, column - 1));
    box.focus();
    box.setSelectionRange(offset, offset);
  }

  // Registered now, not at DOMContentLoaded: htmx sends the first preview ("load") from its own
  // DOMContentLoaded handler, which may run before start().
  document.addEventListener("htmx:configRequest", function (e) {
    var composeForm = document.getElementById("compose-form");
    if (!composeForm || e.target !== composeForm) return;
    e.detail.parameters["touched_fields"] = composeForm.dataset.allTouched ? "*" : Object.keys(touched).join(",");
  });
  document.addEventListener("DOMContentLoaded", start);
})();
