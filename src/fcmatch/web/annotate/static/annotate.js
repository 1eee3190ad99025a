// The annotator's edge editor: renders the sentence's edges and model suggestions, fills concepts
// from selected words, and autosaves every change with the version it started from (a 409 means
// another tab saved first: the page stops saving and says so instead of overwriting).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("task-data").textContent);
  const doc = data.doc;
  const suggestions = data.suggestions;
  const $ = (id) => document.getElementById(id);
  const sentence = $("sentence");
  let version = data.version;
  let dirty = false;
  let conflict = false;
  let timer = null;
  let inflight = null;
  let activeRow = -1;
  let lastSelection = "";

  function setStatus(text) { $("save-status").textContent = text; }

  function norm(text) { return (text || "").trim().replace(/\s+/g, " ").toLowerCase(); }

  function sameEdge(a, b) {
    return norm(a.cause) === norm(b.cause) && norm(a.effect) === norm(b.effect) && a.sign === b.sign;
  }

  function suggestionState(i) {
    const edge = doc.edges.find((e) => e.origin === i);
    if (edge) { return sameEdge(edge, suggestions[i]) ? "accepted" : "edited"; }
    if (doc.edges.some((e) => sameEdge(e, suggestions[i]))) { return "accepted"; }
    return doc.rejected.includes(i) ? "rejected" : "pending";
  }

  function isolated(value) {
    const bdi = document.createElement("bdi");
    bdi.textContent = value;
    return bdi;
  }

  function button(label, onClick, cls) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    if (cls) { b.className = cls; }
    b.addEventListener("click", onClick);
    return b;
  }

  function renderSuggestions() {
    const list = $("suggestions");
    list.replaceChildren();
    $("suggestions-box").hidden = suggestions.length === 0;
    suggestions.forEach((s, i) => {
      const state = suggestionState(i);
      const li = document.createElement("li");
      li.className = "suggestion " + state;
      // each concept in its own <bdi>: a right-to-left concept must not swap places with the arrow
      const text = document.createElement("span");
      text.append(isolated(s.cause), " → ", isolated(s.effect), " (" + s.sign + ") ");
      const tag = document.createElement("span");
      tag.className = "muted state";
      tag.textContent = state;
      li.append(text, tag, " ");
      if (state === "pending") {
        li.append(button("Accept", () => accept(i), "accept"), " ", button("Reject", () => reject(i), "reject"));
      } else if (state === "rejected") {
        li.append(button("Undo", () => { doc.rejected = doc.rejected.filter((r) => r !== i); changed(); }, "undo"));
      }
      list.append(li);
    });
  }

  function renderEdges(focus) {
    const body = $("edges");
    body.replaceChildren();
    doc.edges.forEach((edge, i) => {
      const row = $("edge-row").content.firstElementChild.cloneNode(true);
      const fields = { cause: row.querySelector(".cause"), effect: row.querySelector(".effect") };
      for (const [name, input] of Object.entries(fields)) {
        input.value = edge[name];
        input.addEventListener("input", () => { edge[name] = input.value; changed(false); });
      }
      const sign = row.querySelector(".sign");
      sign.value = edge.sign;
      sign.addEventListener("change", () => { edge.sign = sign.value; changed(false); });
      const confidence = row.querySelector(".confidence");
      confidence.value = edge.confidence || "";
      confidence.addEventListener("change", () => { edge.confidence = confidence.value || null; changed(false); });
      row.querySelector(".delete").addEventListener("click", () => {
        doc.edges.splice(i, 1);
        activeRow = -1;
        changed();
      });
      row.querySelector(".origin").textContent = edge.origin === null ? "" : "suggestion " + (edge.origin + 1);
      row.addEventListener("focusin", () => { activeRow = i; });
      body.append(row);
      if (focus && focus.row === i) { fields[focus.field].focus(); }
    });
  }

  function render(focus) {
    renderEdges(focus);
    renderSuggestions();
    for (const radio of document.querySelectorAll("input[name=flag]")) { radio.checked = radio.value === doc.flag; }
    $("note").value = doc.note;
    $("done-state").textContent = doc.status === "done" ? "marked done" : "";
  }

  // rerender=false while typing: rebuilding the table would steal the caret
  function changed(rerender = true) {
    if (rerender) { render(); } else { renderSuggestions(); }
    dirty = true;
    setStatus("Unsaved changes…");
    clearTimeout(timer);
    timer = setTimeout(save, 600);
  }

  function accept(i) {
    const s = suggestions[i];
    doc.rejected = doc.rejected.filter((r) => r !== i);
    doc.edges.push({ cause: s.cause, effect: s.effect, sign: s.sign, confidence: null, origin: i });
    changed();
  }

  function reject(i) {
    doc.rejected.push(i);
    changed();
  }

  function addEdge() {
    doc.edges.push({ cause: "", effect: "", sign: "+", confidence: null, origin: null });
    activeRow = doc.edges.length - 1;
    changed();
    render({ row: activeRow, field: "cause" });
  }

  function fromSelection(field) {
    const text = lastSelection.trim().replace(/\s+/g, " ");
    if (!text) { setStatus("Select words in the sentence first"); return; }
    let row = activeRow >= 0 && activeRow < doc.edges.length ? activeRow : doc.edges.length - 1;
    if (row < 0 || (doc.edges[row][field] && activeRow < 0)) {
      doc.edges.push({ cause: "", effect: "", sign: "+", confidence: null, origin: null });
      row = doc.edges.length - 1;
    }
    doc.edges[row][field] = text;
    activeRow = row;
    changed();
    render({ row: row, field: field === "cause" ? "effect" : "cause" });
  }

  async function put(keepalive) {
    return fetch(data.save_url, {
      method: "PUT",
      credentials: "same-origin",
      keepalive: keepalive,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": data.csrf },
      body: JSON.stringify({ version: version, doc: doc }),
    });
  }

  async function saveOnce() {
    dirty = false;
    // a finished sentence that gets a half-typed edge goes back to draft instead of failing to save
    if (doc.status === "done" && firstIncomplete()) { doc.status = "draft"; $("done-state").textContent = ""; }
    setStatus("Saving…");
    let response;
    try {
      response = await put(false);
    } catch (err) {
      dirty = true;
      setStatus("Offline: not saved yet, retrying…");
      clearTimeout(timer);
      timer = setTimeout(save, 3000);
      return false;
    }
    if (response.status === 409) {
      conflict = true;
      $("conflict").hidden = false;
      setStatus("Not saved: changed elsewhere");
      return false;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      setStatus("Not saved: " + (body.error || body.detail || response.status));
      return false;
    }
    version = body.version;
    const gap = firstIncomplete();
    setStatus(dirty ? "Unsaved changes…" : gap ? "Draft saved. " + incompleteText(gap) : "Saved");
    return true;
  }

  // one save at a time, so each carries the version the previous one returned
  async function save() {
    if (conflict) { return false; }
    while (inflight) { await inflight; }
    clearTimeout(timer);
    inflight = saveOnce();
    const ok = await inflight;
    inflight = null;
    if (ok && dirty && !conflict) { clearTimeout(timer); timer = setTimeout(save, 600); }
    return ok;
  }

  // index and missing side of the first half-typed row, or null
  function firstIncomplete() {
    for (let i = 0; i < doc.edges.length; i++) {
      const cause = doc.edges[i].cause.trim(), effect = doc.edges[i].effect.trim();
      if (!cause !== !effect) { return { row: i, field: cause ? "effect" : "cause" }; }
    }
    return null;
  }

  function incompleteText(gap) {
    return "Edge " + (gap.row + 1) + " has no " + gap.field + " yet: complete it or delete it.";
  }

  // a half-typed edge blocks "Done" (it would be lost) and stays in the saved draft
  async function done() {
    const gap = firstIncomplete();
    const message = $("done-error");
    if (gap) {
      message.textContent = incompleteText(gap) + " The sentence is not marked done.";
      message.hidden = false;
      render(gap);
      return;
    }
    message.hidden = true;
    doc.edges = doc.edges.filter((e) => e.cause.trim() || e.effect.trim());
    doc.status = "done";
    render();
    if (await save()) { window.location.href = data.next_url; return; }
    doc.status = "draft";
    render();
  }

  document.addEventListener("selectionchange", () => {
    const sel = window.getSelection();
    if (sel && sel.rangeCount && sentence.contains(sel.anchorNode) && sentence.contains(sel.focusNode)) {
      lastSelection = sel.toString();
    }
  });
  // the buttons take focus on click; mousedown.preventDefault keeps the words selected
  for (const id of ["to-cause", "to-effect"]) {
    $(id).addEventListener("mousedown", (e) => e.preventDefault());
  }
  $("to-cause").addEventListener("click", () => fromSelection("cause"));
  $("to-effect").addEventListener("click", () => fromSelection("effect"));
  $("add-edge").addEventListener("click", addEdge);
  $("done").addEventListener("click", done);
  $("reload").addEventListener("click", () => window.location.reload());
  $("note").addEventListener("input", () => { doc.note = $("note").value; changed(false); });
  for (const radio of document.querySelectorAll("input[name=flag]")) {
    radio.addEventListener("change", () => { doc.flag = radio.value; changed(); });
  }
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); done(); return; }
    const typing = e.target.closest && e.target.closest("input, textarea, select");
    if (typing || e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (e.key === "c") { e.preventDefault(); fromSelection("cause"); }
    else if (e.key === "e") { e.preventDefault(); fromSelection("effect"); }
    else if (e.key === "n") { e.preventDefault(); addEdge(); }
  });
  // leaving with unsaved work: one last save that outlives the page
  window.addEventListener("pagehide", () => {
    if (dirty && !conflict && !inflight) { dirty = false; put(true); }
  });
  window.addEventListener("beforeunload", (e) => {
    if (inflight || (dirty && conflict)) { e.preventDefault(); }
  });
  render();
})();
