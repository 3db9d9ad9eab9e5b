// gitgrant audit report: draws the timeline, the cursor, the filters and the
// tables from the JSON in #data. Everything from the audit is put into the
// page as text (textContent) or attributes, never as markup.
"use strict";
(function () {
  const t0 = performance.now();
  const data = JSON.parse(document.getElementById("data").textContent);
  const L = data.lifecycles, F = data.findings;
  const SVG = "http://www.w3.org/2000/svg";
  const KINDS = [["expired", "expired"], ["revoked", "revoked early"], ["removed", "removed by hand"], ["active", "still present"]];
  const $ = (id) => document.getElementById(id);
  const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");
  const key = (l) => l.id + "#" + l.occurrence;
  const endOf = (l) => (l.end !== null ? l.end : Math.max(data.now, l.window ? l.window[1] : data.now));

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function sv(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function link(path, text) {
    if (!data.links) return el("code", {}, text);
    return el("a", { href: data.links + path }, text);
  }

  // Filters' choices.
  const uniq = (xs) => Array.from(new Set(xs.filter((x) => x !== null && x !== undefined))).sort();
  function fill(id, values) {
    const s = $(id);
    for (const v of values) s.appendChild(el("option", { value: v }, v));
  }
  fill("f-subject", uniq(L.map((l) => l.subject)));
  fill("f-role", uniq(L.map((l) => l.role)));
  fill("f-finding", uniq(F.map((f) => f.rule)));
  for (const [k, words] of KINDS) {
    const s = el("span", {});
    s.appendChild(el("i", { class: "k-" + k }));
    s.appendChild(document.createTextNode(words));
    $("legend").appendChild(s);
  }
  const fk = el("span", {});
  fk.appendChild(el("i", { class: "finding-key" }));
  fk.appendChild(document.createTextNode("finding"));
  $("legend").appendChild(fk);

  // The filters as chosen, read once per redraw rather than once a grant.
  let want = {};
  function readFilters() {
    want = { s: $("f-subject").value, r: $("f-role").value, f: $("f-finding").value };
  }
  readFilters();
  function shown(l) {
    const { s, r, f } = want;
    return (!s || l.subject === s) && (!r || l.role === r) && (!f || l.findings.indexOf(f) >= 0);
  }
  function findingShown(f) {
    const { s, r, f: rule } = want;
    if (rule && f.rule !== rule) return false;
    if (!s && !r) return true;
    const l = f.grant ? byKey.get(f.grant + "#" + f.occurrence) : null;
    if (!l) return !s && (!r || f.role === r);
    return (!s || l.subject === s) && (!r || l.role === r);
  }
  const byKey = new Map(L.map((l) => [key(l), l]));

  // Time scale.
  let lo = Infinity, hi = -Infinity;
  for (const l of L) { lo = Math.min(lo, l.landed); hi = Math.max(hi, endOf(l)); }
  for (const f of F) { lo = Math.min(lo, f.time); hi = Math.max(hi, f.time); }
  if (!isFinite(lo)) { lo = data.now - 86400000; hi = data.now; }
  if (hi <= lo) hi = lo + 3600000;
  const LABEL = 150, WIDTH = Math.max(900, Math.min(4000, document.documentElement.clientWidth - 60));
  const ROW = 9, GAP = 2, PAD = 6, TOP = 22;
  const x = (t) => LABEL + ((t - lo) / (hi - lo)) * (WIDTH - LABEL - 10);

  let placed = new Map(); // key -> {lane, y}
  function draw() {
    const by = $("lanes").value;
    const laneOf = (l) => (by === "subject" ? l.subject : l.role) || "(unreadable)";
    const lanes = new Map();
    for (const l of L) {
      if (!shown(l)) continue;
      const n = laneOf(l);
      if (!lanes.has(n)) lanes.set(n, []);
      lanes.get(n).push(l);
    }
    const names = Array.from(lanes.keys()).sort();
    const svg = sv("svg", { id: "chart", width: WIDTH, role: "img", "aria-label": "grants over time" });
    const laneG = sv("g", {}), tickG = sv("g", {}), barG = sv("g", { id: "bars" }), markG = sv("g", { id: "marks" });
    svg.append(laneG, tickG, barG, markG);
    placed = new Map();
    let y = TOP;
    names.forEach((name, i) => {
      // Rows: each bar in the first row where it does not overlap.
      const rows = [];
      const items = lanes.get(name).slice().sort((a, b) => a.landed - b.landed);
      for (const l of items) {
        let r = rows.findIndex((end) => end <= l.landed);
        if (r < 0) { r = rows.length; rows.push(0); }
        rows[r] = endOf(l);
        placed.set(key(l), { lane: name, y: y + PAD + r * (ROW + GAP) });
      }
      const h = PAD * 2 + Math.max(1, rows.length) * (ROW + GAP);
      laneG.appendChild(sv("rect", { class: "lane" + (i % 2 ? " odd" : ""), x: 0, y: y, width: WIDTH, height: h, "data-lane": name }));
      const t = sv("text", { class: "lane-label", x: 6, y: y + 14 });
      t.textContent = name;
      laneG.appendChild(t);
      y += h;
    });
    const height = y + 6;
    svg.setAttribute("height", height);
    // Ticks: about ten, on whole days when the span is long.
    const day = 86400000, span = hi - lo;
    const step = span > 20 * day ? Math.ceil(span / 10 / day) * day : Math.max(3600000, Math.ceil(span / 10 / 3600000) * 3600000);
    for (let t = Math.ceil(lo / step) * step; t <= hi; t += step) {
      tickG.appendChild(sv("line", { class: "tick", x1: x(t), x2: x(t), y1: TOP - 4, y2: height }));
      const lab = sv("text", { class: "tick-label", x: x(t) + 2, y: 12 });
      lab.textContent = iso(t).slice(0, span > 2 * day ? 10 : 16).replace("T", " ");
      tickG.appendChild(lab);
    }
    for (const l of L) {
      const p = placed.get(key(l));
      if (!p) continue;
      const x1 = x(l.landed), x2 = x(endOf(l));
      const r = sv("rect", {
        class: "bar k-" + l.kind, x: x1.toFixed(2), y: p.y, width: Math.max(1.5, x2 - x1).toFixed(2), height: ROW,
        "data-id": key(l), "data-lane": p.lane, "data-kind": l.kind,
      });
      const tip = sv("title", {});
      tip.textContent = key(l) + " · " + (l.subject || "?") + " · " + iso(l.landed) + " → " + (l.end !== null ? iso(l.end) + " (" + l.end_reason + ")" : "present");
      r.appendChild(tip);
      barG.appendChild(r);
    }
    for (const f of F) {
      if (!findingShown(f)) continue;
      const p = f.grant ? placed.get(f.grant + "#" + f.occurrence) : null;
      const fx = x(f.time), fy = p ? p.y - 1 : TOP - 2;
      const m = sv("path", {
        class: "finding", d: "M" + (fx - 4).toFixed(2) + " " + (fy - 5) + "h8l-4 6z",
        "data-rule": f.rule, "data-grant": f.grant ? f.grant + "#" + f.occurrence : "", "data-x": fx.toFixed(2), "data-time": iso(f.time),
      });
      const tip = sv("title", {});
      tip.textContent = f.rule + " · " + iso(f.time) + " · " + f.message;
      m.appendChild(tip);
      markG.appendChild(m);
    }
    svg.appendChild(sv("line", { id: "cursor-line", x1: 0, x2: 0, y1: TOP - 6, y2: height }));
    svg.addEventListener("click", (e) => {
      const box = svg.getBoundingClientRect();
      const px = e.clientX - box.left;
      if (px < LABEL) return;
      setAt(Math.round(lo + ((px - LABEL) / (WIDTH - LABEL - 10)) * (hi - lo)));
    });
    const box = $("timeline");
    box.textContent = "";
    box.appendChild(svg);
    cursor();
  }

  // The cursor: who could use what at `at` (audit --at).
  let at = data.now;
  function setAt(ms, redraw) {
    at = ms;
    $("at").value = iso(ms).slice(0, 19);
    if (redraw !== false) cursor();
  }
  function cursor() {
    const line = $("cursor-line");
    if (line) {
      const cx = Math.min(Math.max(x(at), LABEL), WIDTH).toFixed(2);
      line.setAttribute("x1", cx);
      line.setAttribute("x2", cx);
    }
    $("at-text").textContent = iso(at);
    const ul = $("usable");
    ul.textContent = "";
    const frag = document.createDocumentFragment();
    for (const l of L) {
      if (!shown(l) || !l.usable.some((w) => w[0] <= at && at < w[1])) continue;
      const li = el("li", { "data-id": key(l) });
      li.appendChild(el("code", {}, l.id));
      li.appendChild(document.createTextNode(" " + (l.subject || "?")));
      frag.appendChild(li);
    }
    if (!frag.childNodes.length) frag.appendChild(el("li", { class: "none" }, "nobody"));
    ul.appendChild(frag);
  }
  $("at").addEventListener("change", () => {
    const v = $("at").value;
    if (v) setAt(Date.parse(v + (v.length === 16 ? ":00Z" : "Z")));
  });

  // The tables, a page of rows at a time: a browser lays out 10,000 rows
  // of nine cells slowly, and a page is what a person reads. "all" shows
  // every row (for printing).
  const PAGE = 500;
  const pages = { lifecycles: 0, findings: 0 };
  function pager(name, total, render) {
    const box = $(name + "-pages");
    box.textContent = "";
    const all = pages[name] === -1;
    const first = all ? 0 : pages[name] * PAGE;
    const last = all ? total : Math.min(total, first + PAGE);
    render(first, last);
    if (total <= PAGE) return;
    box.appendChild(document.createTextNode("rows " + (total ? first + 1 : 0) + "–" + last + " of " + total + " "));
    const button = (text, page, enabled) => {
      const b = el("button", { type: "button" }, text);
      b.disabled = !enabled;
      b.addEventListener("click", () => { pages[name] = page; tables(); });
      box.appendChild(b);
    };
    button("‹ previous", pages[name] - 1, !all && pages[name] > 0);
    button("next ›", pages[name] + 1, !all && last < total);
    button(all ? "pages" : "all rows", all ? 0 : -1, true);
  }
  function head(t, cols) {
    const tr = el("tr", {});
    for (const c of cols) tr.appendChild(el("th", {}, c));
    const th = t.querySelector("thead");
    th.textContent = "";
    th.appendChild(tr);
  }
  function tables() {
    const lt = $("lifecycles");
    head(lt, ["grant", "subject", "role", "landed", "ended", "how", "approved by", "reason", "findings"]);
    const rows = L.filter(shown);
    pager("lifecycles", rows.length, (first, last) => {
      const lb = document.createDocumentFragment();
      for (const l of rows.slice(first, last)) {
        const tr = el("tr", { "data-id": key(l) });
        tr.appendChild(el("td", {}, l.occurrence > 1 ? l.id + " #" + l.occurrence : l.id));
        tr.appendChild(el("td", {}, l.subject));
        tr.appendChild(el("td", {}, l.role));
        const landed = el("td", {});
        landed.appendChild(link("/commit/" + l.landed_commit, iso(l.landed)));
        if (l.pr) { landed.appendChild(document.createTextNode(" ")); landed.appendChild(link("/pull/" + l.pr, "#" + l.pr)); }
        tr.appendChild(landed);
        const ended = el("td", {});
        if (l.end !== null) ended.appendChild(link("/commit/" + l.end_commit, iso(l.end)));
        tr.appendChild(ended);
        const how = el("td", { class: "kind" });
        how.appendChild(el("i", { class: "k-" + l.kind }));
        how.appendChild(document.createTextNode(l.end_reason || "present, " + l.state));
        tr.appendChild(how);
        tr.appendChild(el("td", {}, l.approved_by));
        tr.appendChild(el("td", {}, l.reason));
        tr.appendChild(el("td", {}, l.findings.join(", ")));
        lb.appendChild(tr);
      }
      const ltb = lt.querySelector("tbody");
      ltb.textContent = "";
      ltb.appendChild(lb);
    });
    const ft = $("findings");
    head(ft, ["time", "finding", "grant", "commit", "what"]);
    const marks = F.filter(findingShown);
    pager("findings", marks.length, (first, last) => {
      const fb = document.createDocumentFragment();
      for (const f of marks.slice(first, last)) {
        const tr = el("tr", { "data-rule": f.rule, "data-grant": f.grant ? f.grant + "#" + f.occurrence : "" });
        tr.appendChild(el("td", {}, iso(f.time)));
        tr.appendChild(el("td", {}, f.rule));
        tr.appendChild(el("td", {}, f.grant));
        const c = el("td", {});
        c.appendChild(link("/commit/" + f.commit, f.commit.slice(0, 7)));
        tr.appendChild(c);
        tr.appendChild(el("td", {}, f.message));
        fb.appendChild(tr);
      }
      const ftb = ft.querySelector("tbody");
      ftb.textContent = "";
      ftb.appendChild(fb);
    });
  }

  for (const id of ["lanes", "f-subject", "f-role", "f-finding"]) {
    $(id).addEventListener("change", () => { readFilters(); pages.lifecycles = 0; pages.findings = 0; draw(); tables(); });
  }
  const ended = L.filter((l) => l.end !== null).length;
  $("summary").textContent = L.length + " grant lifecycles (" + ended + " ended), " + F.length +
    " findings; as of " + iso(data.now) + (data.tip ? ", tip " + data.tip.slice(0, 12) : "");
  // `#at=2026-11-23T10:00:00Z` in the address sets the cursor.
  const m = /[#&]at=([^&]+)/.exec(location.hash);
  const fromHash = m ? Date.parse(decodeURIComponent(m[1])) : NaN;
  setAt(isNaN(fromHash) ? data.now : fromHash, false);
  draw(); // draws the cursor too
  tables();
  // Layout done (reading a size forces it): what the script took, and the
  // time since the page began to load.
  void document.body.offsetHeight;
  document.body.setAttribute("data-render-ms", Math.round(performance.now() - t0));
  document.body.setAttribute("data-since-navigation-ms", Math.round(performance.now()));
  document.body.setAttribute("data-ready", "true");
})();
