// The loglet console: a client of /api/v1. Every byte of a record goes
// into the page as text (textContent, attribute values through
// setAttribute of non-URL attributes), never as markup.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("q");
  const PARAMS = ["since", "since-time", "until", "severity", "namespace", "pod", "container", "where", "grep", "route", "tail"];
  const PAGE = 100, LIVE_CAP = 500, CTX_STEP = 20;
  const SVG = "http://www.w3.org/2000/svg";
  let shown = new Set(), next = "", live = null, paused = false, pending = [], dropped = 0, sources = [];

  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const status = (msg, bad) => { $("status").textContent = msg; $("status").classList.toggle("error", !!bad); };

  // The query: the page's URL parameters, the same names as the API's
  // and loglet logs tail's flags.
  function params() {
    const p = new URLSearchParams();
    for (const name of PARAMS) {
      const f = form.elements[name];
      const v = f ? f.value.trim() : new URLSearchParams(location.search).get(name) || "";
      if (name === "where") v.split("\n").map((s) => s.trim()).filter(Boolean).forEach((w) => p.append("where", w));
      else if (v) p.set(name, v);
    }
    return p;
  }
  function fillForm(p) {
    for (const name of PARAMS) {
      const f = form.elements[name];
      if (!f) continue;
      const v = name === "where" ? p.getAll("where").join("\n") : p.get(name) || "";
      if (f.tagName === "SELECT" && v && ![...f.options].some((o) => o.value === v)) f.append(new Option(v, v));
      f.value = v;
    }
  }

  async function api(path, p) {
    const r = await fetch("api/v1/" + path + "?" + p.toString(), { headers: { Accept: "application/json" } });
    const body = await r.json().catch(() => ({ error: r.status + " " + r.statusText }));
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }

  // Records.
  const sevName = (r) => {
    const s = String(r.severity || "").toUpperCase();
    const map = { WARNING: "WARN", ERR: "ERROR", CRITICAL: "FATAL", CRIT: "FATAL", PANIC: "FATAL", EMERG: "FATAL", ALERT: "FATAL", EMERGENCY: "FATAL", NOTICE: "INFO" };
    const n = map[s] || s;
    return ["FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"].includes(n) ? n : "NONE";
  };
  const attr = (r, k) => (r.attributes || {})[k];
  const key = (r) => [attr(r, "loglet.source_id"), attr(r, "loglet.package_id"), attr(r, "loglet.offset")].join("/");
  const where = (r) => {
    const res = r.resource || {};
    const w = [res["k8s.namespace.name"], res["k8s.pod.name"], res["k8s.container.name"]].filter(Boolean).join("/");
    return w || String(attr(r, "log.file.path") || "").split("/").pop();
  };
  const text = (v) => (typeof v === "string" ? v : JSON.stringify(v));

  function details(r) {
    const dl = el("dl", "attrs");
    const add = (k, v) => { dl.append(el("dt", "", k), el("dd", "", text(v))); };
    for (const [k, v] of Object.entries(r.resource || {})) add(k, v);
    for (const [k, v] of Object.entries(r.attributes || {})) add(k, v);
    return dl;
  }

  // row makes a record's row; a click or Enter opens its keys.
  function row(r, withContext) {
    const tr = el("tr", "rec");
    tr.tabIndex = 0;
    const sev = sevName(r);
    tr.append(el("td", "time", r.time || ""), el("td", "sev sev-" + sev, r.severity ? String(r.severity) : "-"),
      el("td", "where", where(r)), el("td", "body", r.body == null ? "" : String(r.body)));
    const act = el("td");
    if (withContext && attr(r, "loglet.source_id") !== undefined) {
      const b = el("button", "ctx", "Context");
      b.type = "button";
      b.addEventListener("click", (e) => { e.stopPropagation(); openContext(r); });
      act.append(b);
    }
    tr.append(act);
    let open = null;
    const toggle = () => {
      if (open) { open.remove(); open = null; tr.setAttribute("aria-expanded", "false"); return; }
      open = el("tr", "detail");
      const td = el("td");
      td.colSpan = 5;
      td.append(details(r));
      open.append(td);
      tr.after(open);
      tr.setAttribute("aria-expanded", "true");
    };
    tr.setAttribute("aria-expanded", "false");
    tr.addEventListener("click", toggle);
    tr.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); } });
    return tr;
  }

  function clearRows() { $("rows").replaceChildren(); shown = new Set(); }
  function addRecords(recs, atTop) {
    const tbody = $("rows");
    const frag = document.createDocumentFragment();
    for (const r of recs) {
      const k = key(r);
      if (shown.has(k)) continue; // load more asks again from the oldest time shown
      shown.add(k);
      const tr = row(r, true);
      tr.dataset.key = k;
      frag.append(tr);
    }
    if (atTop) tbody.prepend(frag); else tbody.append(frag);
  }

  // searches counts the searches begun: an answer to one that a newer
  // search replaced (a second submit, the page's own first search) is
  // dropped, else both would fill the rows.
  let searches = 0;
  async function search(more) {
    const n = ++searches;
    const p = params();
    p.set("limit", String(PAGE));
    if (more) p.set("cursor", next);
    else clearRows();
    status("searching…");
    try {
      const a = await api("query", p);
      if (n !== searches) return;
      addRecords(a.records, false);
      next = a.next || "";
      $("more").hidden = !a.more;
      status(shown.size + " record(s) shown" + (a.partial ? " — partial: " + a.reason : ""), a.partial);
    } catch (e) {
      if (n !== searches) return;
      status(e.message, true);
      $("more").hidden = true;
    }
  }

  // The volume chart: bars stacked by severity, drawn in SVG; a drag
  // across it narrows the range to what it covers.
  let chart = null;
  async function volume() {
    const p = params();
    p.delete("tail");
    p.set("buckets", "60");
    const svg = $("chart");
    try {
      chart = await api("volume", p);
    } catch (e) {
      svg.replaceChildren();
      $("chart-info").textContent = e.message;
      return;
    }
    draw();
  }
  function draw() {
    const svg = $("chart");
    svg.replaceChildren();
    if (!chart) return;
    const w = svg.clientWidth || 800, h = svg.clientHeight || 120, axis = 14;
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    const n = chart.counts.length;
    const peak = Math.max(1, ...chart.counts.map((c) => c.reduce((a, b) => a + b, 0)));
    const bw = w / n;
    chart.counts.forEach((c, i) => {
      let y = h - axis;
      for (let j = c.length - 1; j >= 0; j--) {
        if (!c[j]) continue;
        const bh = (c[j] / peak) * (h - axis - 4);
        y -= bh;
        const rect = document.createElementNS(SVG, "rect");
        rect.setAttribute("x", String(i * bw + 0.5));
        rect.setAttribute("y", String(y));
        rect.setAttribute("width", String(Math.max(1, bw - 1)));
        rect.setAttribute("height", String(bh));
        rect.setAttribute("class", "bar-" + chart.severities[j]);
        const t = document.createElementNS(SVG, "title");
        t.textContent = chart.severities[j] + ": " + c[j];
        rect.append(t);
        svg.append(rect);
      }
    });
    const since = Date.parse(chart.since);
    for (const [x, anchor, ms] of [[2, "start", since], [w - 2, "end", Date.parse(chart.until)]]) {
      const t = document.createElementNS(SVG, "text");
      t.setAttribute("x", String(x));
      t.setAttribute("y", String(h - 2));
      t.setAttribute("text-anchor", anchor);
      t.setAttribute("class", "axis");
      t.textContent = new Date(ms).toISOString();
      svg.append(t);
    }
    const sel = document.createElementNS(SVG, "rect");
    sel.setAttribute("class", "sel");
    sel.setAttribute("id", "sel");
    sel.setAttribute("y", "0");
    sel.setAttribute("height", String(h - axis));
    sel.setAttribute("width", "0");
    svg.append(sel);
    $("chart-info").textContent = chart.total + " record(s), " + chart.step + " s a bar" + (chart.partial ? " — partial: " + chart.reason : "");
    $("chart-info").classList.toggle("partial", !!chart.partial);
  }
  function timeAt(svg, clientX) {
    const b = svg.getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (clientX - b.left) / b.width));
    const since = Date.parse(chart.since), until = Date.parse(chart.until);
    return { x: f * (svg.viewBox.baseVal.width || b.width), t: since + f * (until - since) };
  }
  function dragChart() {
    const svg = $("chart");
    let start = null;
    svg.addEventListener("pointerdown", (e) => {
      if (!chart) return;
      start = timeAt(svg, e.clientX);
      svg.setPointerCapture(e.pointerId);
    });
    svg.addEventListener("pointermove", (e) => {
      if (!start) return;
      const cur = timeAt(svg, e.clientX), sel = $("sel");
      sel.setAttribute("x", String(Math.min(start.x, cur.x)));
      sel.setAttribute("width", String(Math.abs(cur.x - start.x)));
    });
    svg.addEventListener("pointerup", (e) => {
      if (!start) return;
      const end = timeAt(svg, e.clientX), s = start;
      start = null;
      if (Math.abs(end.x - s.x) < 3) return;
      form.elements["since"].value = "";
      form.elements["since-time"].value = new Date(Math.min(s.t, end.t)).toISOString();
      form.elements["until"].value = new Date(Math.max(s.t, end.t)).toISOString();
      run(true);
    });
  }

  // Context: the records around one, from its source, the record marked.
  let ctx = null;
  async function openContext(r) {
    ctx = { source: attr(r, "loglet.source_id"), package: attr(r, "loglet.package_id"), offset: attr(r, "loglet.offset"), before: CTX_STEP, after: CTX_STEP };
    $("context").hidden = false;
    await loadContext();
    $("ctx-close").focus({ preventScroll: true });
  }
  async function loadContext() {
    const p = new URLSearchParams();
    for (const k of ["source", "package", "offset", "before", "after"]) p.set(k, String(ctx[k]));
    const body = $("ctx-rows");
    try {
      const a = await api("context", p);
      body.replaceChildren(...a.records.map((r, i) => {
        const tr = row(r, false);
        if (i === a.at) { tr.classList.add("mark"); tr.setAttribute("aria-current", "true"); }
        return tr;
      }));
      const mark = body.querySelector("tr.mark");
      if (mark) mark.scrollIntoView({ block: "center" });
    } catch (e) {
      body.replaceChildren(el("tr", "", e.message));
    }
  }

  // Live tail: new records as server-sent events, newest on top, at most
  // LIVE_CAP rows kept; paused, they wait (at most LIVE_CAP of them: the
  // older are dropped, and counted, for the page to say so).
  function setLive(on) {
    if (live) { live.close(); live = null; }
    $("pause").disabled = !on;
    paused = false; pending = []; dropped = 0;
    $("pause").textContent = "Pause";
    if (!on) { status(""); return; }
    const p = params();
    for (const k of ["since", "since-time", "until", "tail"]) p.delete(k);
    live = new EventSource("api/v1/tail?" + p.toString());
    live.addEventListener("open", () => status("live: waiting for new records"));
    live.addEventListener("record", (e) => {
      const r = JSON.parse(e.data);
      if (paused) {
        pending.push(r);
        if (pending.length > LIVE_CAP) { pending.shift(); dropped++; }
        pausedStatus();
        return;
      }
      showLive([r]);
    });
    live.addEventListener("failure", (e) => status(JSON.parse(e.data).error, true));
    live.addEventListener("error", () => status("live: connection lost, retrying", true));
  }
  const pausedStatus = () => status("live: paused, " + pending.length + " waiting" + (dropped ? ", " + dropped + " older dropped" : ""));
  // showLive puts records on top, newest first; lost records that came
  // before them (dropped while paused) leave a row saying how many.
  function showLive(recs, lost) {
    const tbody = $("rows");
    if (lost) {
      const tr = el("tr", "gap"), td = el("td", "", lost + " record(s) not shown here: more than " + LIVE_CAP + " came while paused (search to see them)");
      td.colSpan = 5;
      tr.append(td);
      tbody.prepend(tr);
    }
    addRecords(recs.slice().reverse(), true);
    while (tbody.querySelectorAll("tr.rec").length > LIVE_CAP) {
      const last = tbody.lastElementChild;
      if (last.classList.contains("rec")) shown.delete(last.dataset.key);
      last.remove();
    }
    status("live: " + tbody.querySelectorAll("tr.rec").length + " row(s)");
  }

  // run searches with what the form says, and puts it in the URL so a
  // link opens the same view.
  function run(push) {
    const p = params();
    const url = "?" + p.toString();
    if (push && url !== location.search) history.pushState(null, "", url);
    const dl = new URLSearchParams(p);
    dl.set("format", "ndjson");
    $("download").setAttribute("href", "api/v1/query?" + dl.toString());
    search(false);
    volume();
    if (live) setLive(true);
  }

  async function loadSources() {
    try {
      sources = (await api("sources", new URLSearchParams())).sources.filter((s) => s.namespace !== "_");
    } catch (e) {
      sources = [];
    }
    pickers();
  }
  // pickers fill the namespace, pod and container lists from what the
  // hub holds, each narrowed by the ones before it.
  function pickers() {
    const f = form.elements;
    const fill = (sel, values) => {
      const v = sel.value;
      sel.replaceChildren(new Option("all", ""), ...[...new Set(values)].filter((x) => x && x !== "_").sort().map((x) => new Option(x, x)));
      if (v && ![...sel.options].some((o) => o.value === v)) sel.append(new Option(v, v));
      sel.value = v;
    };
    fill(f.namespace, sources.map((s) => s.namespace));
    const inNs = sources.filter((s) => !f.namespace.value || s.namespace === f.namespace.value);
    fill(f.pod, inNs.map((s) => s.pod));
    fill(f.container, inNs.filter((s) => !f.pod.value || s.pod === f.pod.value).map((s) => s.container));
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); run(true); });
  form.elements.namespace.addEventListener("change", pickers);
  form.elements.pod.addEventListener("change", pickers);
  $("more").addEventListener("click", () => search(true));
  $("live").addEventListener("change", (e) => setLive(e.target.checked));
  $("pause").addEventListener("click", () => {
    paused = !paused;
    $("pause").textContent = paused ? "Resume" : "Pause";
    if (paused) pausedStatus();
    else { showLive(pending, dropped); pending = []; dropped = 0; }
  });
  $("ctx-close").addEventListener("click", () => { $("context").hidden = true; });
  $("ctx-above").addEventListener("click", () => { ctx.before += CTX_STEP; loadContext(); });
  $("ctx-below").addEventListener("click", () => { ctx.after += CTX_STEP; loadContext(); });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") $("context").hidden = true; });
  window.addEventListener("popstate", () => { fillForm(new URLSearchParams(location.search)); run(false); });
  window.addEventListener("resize", draw);
  dragChart();

  fillForm(new URLSearchParams(location.search));
  if (!location.search) form.elements.since.value = "15m";
  loadSources().then(() => fillForm(new URLSearchParams(location.search)));
  run(false);
})();
