// Page-side measurements for tools/check_pages.py (evaluated in headless Chromium over DevTools).
// Defines window.__bertedu_check with functions that return plain JSON; the Python side judges the numbers.
(function () {
  "use strict";
  const ARTICLE = ".bd-article";
  const SKIP_TEXT = "script,style,pre,code,kbd,samp,textarea,svg,mjx-container,mjx-assistive-mml,.MathJax,.highlight";

  function article() { return document.querySelector(ARTICLE) || document.body; }
  function visible(el) {
    if (!el || !el.isConnected) { return false; }
    if (el.closest("details:not([open]) > :not(summary)")) { return false; }   // inside a closed <details>
    if (typeof el.checkVisibility === "function" && !el.checkVisibility({visibilityProperty: true, checkVisibilityCSS: true})) { return false; }
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  }
  function cellOf(el) { return el.closest("div.cell"); }
  function cellIndex(cell) {
    // the cell's position in the notebook (1-based, markdown cells counted), from the extension's nbcell-N class
    if (!cell) { return 0; }
    const c = [...cell.classList].find(x => /^nbcell-\d+$/.test(x));
    return c ? parseInt(c.slice(7), 10) : [...article().querySelectorAll("div.cell")].indexOf(cell) + 1;
  }
  function tagsOf(cell) {
    return cell ? [...cell.classList].filter(c => c.startsWith("tag_")).map(c => c.slice(4)) : [];
  }
  function headingBefore(el) {
    // the nearest section heading above el (so a report line says where on the page it is)
    let s = el.closest("section");
    while (s) {
      const h = s.querySelector(":scope > h1, :scope > h2, :scope > h3, :scope > h4");
      if (h) { return h.textContent.replace("#", "").trim().slice(0, 60); }
      s = s.parentElement && s.parentElement.closest("section");
    }
    return "";
  }
  function where(el) {
    const cell = cellOf(el);
    return {cell: cellIndex(cell), section: headingBefore(el), tags: tagsOf(cell)};
  }
  function box(el) {
    const r = el.getBoundingClientRect();
    return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height};
  }

  // ---------------------------------------------------------------------------------- readiness
  function expected() {
    const a = article();
    return {
      widgets: a.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
      bertviz: a.querySelectorAll('[id^="bertviz-"]').length,
      quizzes: a.querySelectorAll(".bertedu-quiz").length,
      math: a.querySelectorAll(".math").length,
    };
  }
  function progress() {
    const a = article();
    const widgets = [...a.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')]
      .filter(s => { const p = s.previousElementSibling; return p && p.classList.contains("widget-subarea") && p.children.length; }).length;
    const bertviz = [...a.querySelectorAll('[id^="bertviz-"]')].filter(v => v.querySelector("svg *")).length;
    const quizzes = [...a.querySelectorAll(".bertedu-quiz")].filter(q => q.querySelector(".Quiz")).length;
    const math = [...a.querySelectorAll(".math")].filter(m => m.querySelector("mjx-container")).length;
    return {widgets, bertviz, quizzes, math};
  }
  async function ready(timeoutMs) {
    const t0 = Date.now();
    const want = expected();
    if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
      await Promise.race([window.MathJax.startup.promise, new Promise(r => setTimeout(r, timeoutMs))]);
    }
    let got = progress();
    while (Date.now() - t0 < timeoutMs &&
           Object.keys(want).some(k => got[k] < want[k])) {
      await new Promise(r => setTimeout(r, 150));
      got = progress();
    }
    if (window.MathJax && typeof window.MathJax.typesetPromise === "function") {
      await Promise.race([window.MathJax.typesetPromise(), new Promise(r => setTimeout(r, 3000))]).catch(() => {});
    }
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    return {expected: want, rendered: progress(), ms: Date.now() - t0};
  }

  // ---------------------------------------------------------------------------------- desktop checks
  function texts() {
    // every text node of the article outside code and math, hidden tab panels included (MathJax typesets those)
    const out = [];
    const walker = document.createTreeWalker(article(), NodeFilter.SHOW_TEXT);
    let n;
    while ((n = walker.nextNode())) {
      const p = n.parentElement;
      // jupyterquiz turns every $ of a quiz into a MathJax delimiter, <code> included: check quiz code too
      const skip = p && p.closest(".Quiz") ? "script,style,mjx-container,mjx-assistive-mml" : SKIP_TEXT;
      if (!p || p.closest(skip)) { continue; }
      const t = n.textContent;
      if (!/[\\$]/.test(t)) { continue; }
      const around = p.closest("label, p, li, td, th, div") || p;
      out.push({text: t.slice(0, 400), context: around.textContent.replace(/\s+/g, " ").trim().slice(0, 160),
                ...where(p), visible: visible(p)});
    }
    return out;
  }
  function cellInputs() {
    return [...article().querySelectorAll("div.cell_input")].map(inp => ({
      code: (inp.querySelector("pre") || inp).innerText.slice(0, 4000),
      visible: visible(inp), ...where(inp),
    }));
  }
  function solutions() {
    // the old helper's output (code printed in the output, so the page shows it twice) and tagged cells
    const a = article();
    return {
      helper_output: [...a.querySelectorAll("details.bertedu-solution")].map(d => where(d)),
      open_at_load: [...a.querySelectorAll("div.cell.tag_solution details[open]")].map(d => where(d)),
    };
  }
  function scrolling() {
    const out = [];
    for (const pre of article().querySelectorAll("div.cell pre")) {
      if (!visible(pre) || pre.scrollWidth <= pre.clientWidth + 1) { continue; }
      const lines = pre.innerText.split("\n");
      const longest = Math.max(...lines.map(l => l.length));
      out.push({...where(pre), part: pre.closest(".cell_output") ? "output" : "input",
                scroll: pre.scrollWidth, client: pre.clientWidth, longest});
    }
    return out;
  }
  function figures() {
    const out = [];
    for (const img of article().querySelectorAll("img")) {
      if (!visible(img) || img.clientWidth < 48) { continue; }
      const src = img.currentSrc || img.src;
      const svg = /\.svg(\?|$)/i.test(src) || src.startsWith("data:image/svg");
      out.push({...where(img), src: src.startsWith("data:") ? src.slice(0, 30) + "..." : src.split("/").pop(),
                svg, natural: img.naturalWidth, shown: img.clientWidth, shownH: img.clientHeight,
                naturalH: img.naturalHeight, inWidget: !!img.closest(".widget-subarea"),
                complete: img.complete});
    }
    return out;
  }
  function captions() {
    // figures (images and bertviz views, not widgets' own figures) and whether a caption follows their cell
    const a = article();
    const firstH2 = a.querySelector("section section > h2, h2");
    const items = [];
    for (const cell of a.querySelectorAll("div.cell")) {
      const img = [...cell.querySelectorAll(".cell_output img")].find(i => visible(i) && !i.closest(".widget-subarea"));
      if (!img) { continue; }
      let next = cell.nextElementSibling;
      while (next && next.matches("div.cell") && !next.querySelector(".cell_output img")
             && !visible(next.querySelector(".cell_input") || next)) { next = next.nextElementSibling; }
      const captioned = !!(next && (next.matches("p.bertedu-caption") || next.querySelector(":scope > p.bertedu-caption")));
      items.push({...where(cell), captioned});
    }
    const figs = [...a.querySelectorAll("img, div.cell svg")].filter(f => visible(f) && f.getBoundingClientRect().width >= 120);
    const opening = !!firstH2 && figs.some(f => f.compareDocumentPosition(firstH2) & Node.DOCUMENT_POSITION_FOLLOWING);
    const numbers = [...a.querySelectorAll("p.bertedu-caption")].map(p => p.id);
    return {items, opening, has_h2: !!firstH2, numbers};
  }
  function widgets() {
    return [...article().querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')].map(s => {
      const p = s.previousElementSibling;
      const ok = !!(p && p.classList.contains("widget-subarea") && p.children.length);
      const r = ok ? p.getBoundingClientRect() : {height: 0, width: 0};
      return {...where(s), rendered: ok && r.height > 0, height: r.height, width: r.width,
              images: ok ? p.querySelectorAll("img").length : 0};
    });
  }
  function bertviz() {
    const col = article().getBoundingClientRect().width;
    return [...article().querySelectorAll('[id^="bertviz-"]')].map(v => {
      const svg = v.querySelector("svg");
      const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
      const opts = [...v.querySelectorAll("select option")].map(o => o.textContent.trim());
      const out = v.closest(".cell_output") || v;
      const colours = new Set([...v.querySelectorAll("svg line")]
        .filter(l => parseFloat(l.getAttribute("stroke-opacity") || "1") > 0).map(l => l.getAttribute("stroke")));
      return {...where(v), id: v.id, view: /model/.test(v.id) ? "model" : "head", heads: colours.size,
              elements: v.querySelectorAll("svg *").length, width: r.width, height: r.height,
              overflow: out.scrollWidth > out.clientWidth + 1 || r.right > article().getBoundingClientRect().right + 1,
              column: col, first_option: opts.length ? opts[0] : null};
    });
  }
  function quizTargets() {
    // for every quiz: where to click its EN option, its 中文 tab, and (after the tab) its 中文 option
    return [...article().querySelectorAll(".bertedu-tabs")].filter(t => t.querySelector(".bertedu-quiz")).map(t => ({
      id: t.id, ...where(t),
    }));
  }
  function pointOf(selector, root) {
    const el = (root ? document.getElementById(root) : document).querySelector(selector);
    if (!el) { return null; }
    el.scrollIntoView({block: "center", inline: "nearest", behavior: "instant"});
    const r = el.getBoundingClientRect();
    return {x: r.left + Math.min(r.width / 2, 40), y: r.top + r.height / 2, visible: visible(el)};
  }
  function feedback(tabsId, lang) {
    const panel = document.querySelector(`#${CSS.escape(tabsId)} .bertedu-panel-${lang}`);
    const fb = panel ? panel.querySelector(".Feedback") : null;
    return {text: fb ? fb.innerText.trim().slice(0, 200) : null, panel_visible: visible(panel),
            raw: fb ? /\\[()\[\]]|\$[^$\s][^$]*\$/.test(fb.innerText) : false};
  }

  // ---------------------------------------------------------------------------------- dark mode
  function rgba(s) {
    const m = s.match(/rgba?\(([^)]+)\)/);
    if (!m) { return [0, 0, 0, 0]; }
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }
  function over(top, bottom) {
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  }
  function background(el) {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) { break; } }
    }
    let bg = [255, 255, 255, 1];
    if (!layers.length || layers[layers.length - 1][3] < 1) {
      bg = document.documentElement.dataset.theme === "dark" ? [20, 24, 30, 1] : [255, 255, 255, 1];
    }
    for (let i = layers.length - 1; i >= 0; i--) { bg = over(layers[i], bg); }
    return bg;
  }
  function lum(c) {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  }
  function contrastOf(el) {
    const bg = background(el);
    const fg = over(rgba(getComputedStyle(el).color), bg);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    return Math.round(((a + 0.05) / (b + 0.05)) * 100) / 100;
  }
  function contrasts() {
    const a = article();
    const groups = {
      "card text": ".bertedu-card td, .bertedu-card th",
      "card code": ".bertedu-card code",
      "inline code": "p code, li code, td code",
      "tab labels": ".bertedu-tabs > label",
      "quiz text": ".Quiz .MCButton, .Quiz [id^=quizQn]",
      "quiz feedback": ".Quiz .Feedback",
      "captions": "p.bertedu-caption",
      "paper quotes": ".bertedu-quote",
      "prose": "section > p",
      "source listings": ".bertedu-source pre",
    };
    const out = {};
    for (const [name, sel] of Object.entries(groups)) {
      // hidden tab panels count: switching the tab shows them; measure the visible ones and the first panel
      const els = [...a.querySelectorAll(sel)].filter(e => e.textContent.trim() && (visible(e) || e.closest(".bertedu-panel")));
      if (!els.length) { continue; }
      let worst = null;
      for (const e of els.slice(0, 200)) {
        const c = contrastOf(e);
        if (!worst || c < worst.contrast) {
          worst = {contrast: c, text: e.textContent.trim().slice(0, 40), color: getComputedStyle(e).color,
                   background: "rgb(" + background(e).slice(0, 3).join(",") + ")", ...where(e)};
        }
      }
      out[name] = {count: els.length, worst};
    }
    return out;
  }

  // ---------------------------------------------------------------------------------- phone width
  function overflow() {
    const doc = document.documentElement;
    const width = doc.clientWidth;
    const culprits = [];
    if (doc.scrollWidth > width + 1) {
      for (const el of document.querySelectorAll("body *")) {
        const r = el.getBoundingClientRect();
        if (r.right <= width + 1 || r.width === 0 || !visible(el)) { continue; }
        if (el.closest("[style*='position: fixed'], .bd-sidebar, .skip-link, dialog")) { continue; }
        if (getComputedStyle(el).position === "fixed") { continue; }
        // only the outermost offender whose ancestors do not clip it
        let clipped = false;
        for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
          const o = getComputedStyle(p).overflowX;
          if (o !== "visible" && p.getBoundingClientRect().right <= width + 1) { clipped = true; break; }
        }
        if (clipped) { continue; }
        const parentOver = el.parentElement && el.parentElement.getBoundingClientRect().right > width + 1;
        if (parentOver && el.parentElement !== document.body) { continue; }
        culprits.push({tag: el.tagName.toLowerCase(), cls: String(el.className).slice(0, 60),
                       right: Math.round(r.right), ...where(el)});
        if (culprits.length >= 6) { break; }
      }
    }
    return {scroll: doc.scrollWidth, client: width, culprits};
  }

  function shotBoxes() {
    // regions for the review screenshots: a figure, a widget, a card, each quiz, the exercises section
    const a = article();
    const pick = (el) => el ? box(el) : null;
    const fig = [...a.querySelectorAll(".cell_output img")].find(i => visible(i) && !i.closest(".widget-subarea"));
    const widget = [...a.querySelectorAll(".widget-subarea")].find(visible);
    const card = [...a.querySelectorAll(".bertedu-tabs")].find(t => t.querySelector(".bertedu-card") && visible(t));
    const ex = [...a.querySelectorAll("section")].find(s => /^exercises|^exercise/i.test(s.id || ""));
    const bv = [...a.querySelectorAll('[id^="bertviz-"]')].find(visible);
    return {figure: pick(fig && (fig.closest(".cell_output") || fig)), widget: pick(widget),
            card: pick(card), exercises: pick(ex), bertviz: pick(bv),
            height: document.documentElement.scrollHeight};
  }

  window.__bertedu_check = {ready, expected, progress, texts, cellInputs, solutions, scrolling, figures, captions,
                            widgets, bertviz, quizTargets, pointOf, feedback, contrasts, overflow, shotBoxes,
                            cdnNotice: () => !!document.querySelector(".bertedu-cdn-notice"),
                            theme: (t) => { document.documentElement.dataset.theme = t; return t; }};
})();
