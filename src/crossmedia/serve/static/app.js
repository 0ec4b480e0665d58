// crossmedia search page: plain JS, no build step. Talks to the JSON API of the same origin.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = { query: "", config: null, heatmapUrl: null };

  function show(el, on) { el.hidden = !on; }
  function setError(msg) { $("error").textContent = msg || ""; show($("error"), !!msg); }
  function setStatus(msg) { $("status").textContent = msg; }

  async function api(url, opts) {
    let resp;
    try { resp = await fetch(url, opts); } catch (e) { throw new Error("cannot reach the server"); }
    const type = resp.headers.get("content-type") || "";
    if (!resp.ok) {
      let msg = resp.status + " " + resp.statusText;
      if (type.includes("json")) { const b = await resp.json(); if (b.error) msg = b.error.message; }
      throw new Error(msg);
    }
    return type.includes("json") ? resp.json() : resp.blob();
  }

  function clearResults() {
    $("results").replaceChildren(); $("texts").replaceChildren();
    show($("explain"), false);
  }

  // the text the index matched, labelled with its field ("tags: red circle ...")
  function matched(h) { return h.text ? (h.text_field ? h.text_field + ": " : "") + h.text : h.id; }

  function renderImages(data) {
    clearResults();
    $("results-title").textContent = data.hits.length + " images for \u201c" + data.query + "\u201d (" + data.took_ms.toFixed(0) + " ms)";
    $("results-title").title = "score: " + (data.score_kind || "similarity") + ", higher is closer";
    for (const h of data.hits) {
      const card = document.createElement("button");
      card.type = "button"; card.className = "card result"; card.dataset.id = h.id;
      const img = document.createElement("img");
      img.className = "thumb"; img.loading = "lazy"; img.alt = h.text || h.id;
      if (h.thumbnail) img.src = h.thumbnail;
      const cap = document.createElement("div"); cap.className = "cap";
      const t = document.createElement("div"); t.className = "txt"; t.textContent = matched(h); card.title = matched(h) + (h.caption ? "\ncaption: " + h.caption : "");
      const s = document.createElement("div"); s.className = "score"; s.textContent = "#" + h.rank + "  score " + h.score.toFixed(3);
      cap.append(t, s);
      if (h.labels && h.labels.length) { const l = document.createElement("div"); l.className = "labels"; l.textContent = h.labels.join(", "); cap.append(l); }
      card.append(img, cap);
      card.addEventListener("click", () => explain(h, card));
      $("results").append(card);
    }
    show($("results-section"), true);
  }

  function renderTexts(data, name) {
    clearResults();
    $("results-title").textContent = data.hits.length + " texts for " + name + " (" + data.took_ms.toFixed(0) + " ms" + (data.rerank ? "; scores: fine-grained rerank" : "") + ")";
    $("results-title").title = "score: " + (data.score_kind || "similarity") + ", higher is closer";
    for (const h of data.hits) {
      const li = document.createElement("li"); li.className = "text-result"; li.dataset.id = h.id;
      const t = document.createElement("span"); t.textContent = matched(h);
      const s = document.createElement("span"); s.className = "score"; s.textContent = "score " + h.score.toFixed(3);
      li.append(t, s);
      if (h.caption) { const c = document.createElement("div"); c.className = "labels"; c.textContent = "caption (context): " + h.caption; li.append(c); }
      if (h.labels && h.labels.length) { const l = document.createElement("div"); l.className = "labels"; l.textContent = h.labels.join(", "); li.append(l); }
      $("texts").append(li);
    }
    show($("results-section"), true);
  }

  function options() {
    const cfg = state.config || { limits: { max_k: 100 } };
    let k = parseInt($("k").value, 10); if (!(k >= 1)) k = 12; k = Math.min(k, cfg.limits.max_k);
    const rerank = $("rerank").checked ? Math.min(Math.max(4 * k, 50), cfg.limits.max_rerank) : 0;
    return { k, rerank };
  }

  async function searchText(ev) {
    ev.preventDefault();
    const q = $("q").value.trim(); if (!q) return;
    setError(""); $("go").disabled = true; setStatus("searching…");
    try {
      const data = await api("/api/search/text", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(Object.assign({ query: q }, options())) });
      state.query = q; renderImages(data); setStatus("ready");
    } catch (e) { setError(e.message); setStatus("ready"); }
    finally { $("go").disabled = false; }
  }

  async function searchImage(file) {
    if (!file) return;
    setError(""); setStatus("searching…");
    const preview = $("query-image");
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.src = URL.createObjectURL(file); show(preview, true);
    const fd = new FormData(); const o = options();
    fd.append("file", file); fd.append("k", String(o.k)); fd.append("rerank", String(o.rerank));
    try { renderTexts(await api("/api/search/image", { method: "POST", body: fd }), file.name || "your image"); setStatus("ready"); }
    catch (e) { setError(e.message); setStatus("ready"); }
  }

  async function explain(hit, card) {
    for (const c of document.querySelectorAll(".card.selected")) c.classList.remove("selected");
    card.classList.add("selected");
    if (!state.config || !state.config.explain) { setError("this index's model has no word-region attention to show"); return; }
    setError("");
    const qs = "query=" + encodeURIComponent(state.query) + "&item=" + encodeURIComponent(hit.id);
    try {
      const [info, png] = await Promise.all([api("/api/explain?format=json&" + qs), api("/api/explain?" + qs)]);
      if (state.heatmapUrl) URL.revokeObjectURL(state.heatmapUrl);
      state.heatmapUrl = URL.createObjectURL(png);
      $("explain-title").textContent = "Why \u201c" + (hit.text || hit.id) + "\u201d?";
      $("explain-words").textContent = "attention of each query word (" + info.words.join(", ") + ") over the image's " +
        (info.grid ? info.grid + "\u00d7" + info.grid : info.attention[0].length) + " regions";
      const img = $("heatmap");
      img.src = state.heatmapUrl; img.dataset.item = hit.id;
      show($("explain"), true);
    } catch (e) { setError(e.message); }
  }

  async function init() {
    $("text-form").addEventListener("submit", searchText);
    $("explain-close").addEventListener("click", () => show($("explain"), false));
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") show($("explain"), false); });
    const drop = $("drop"), file = $("file");
    file.addEventListener("change", () => searchImage(file.files[0]));
    drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); file.click(); } });
    for (const t of ["dragenter", "dragover"]) drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); });
    for (const t of ["dragleave", "drop"]) drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); });
    drop.addEventListener("drop", (e) => { const f = e.dataTransfer.files[0]; if (f) searchImage(f); });
    try {
      const cfg = await api("/healthz");
      state.config = cfg;
      $("q").maxLength = cfg.limits.max_query_chars; $("k").max = cfg.limits.max_k;
      show($("rerank-opt"), cfg.rerank);
      setStatus(cfg.items.toLocaleString() + " items \u00b7 " + cfg.model + " (" + cfg.code_kind + " codes) \u00b7 ready");
      document.body.dataset.ready = "1";
    } catch (e) { setStatus("server unavailable"); setError(e.message); }
  }
  document.addEventListener("DOMContentLoaded", init);
})();
