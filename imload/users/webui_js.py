"""The imload tab's script (``/imload/tab.js``), added to the page of Locust's web UI.

Locust's React UI draws an extended tab as a plain table of text (``extended_tables``),
with no colour and no chart. This script adds what a table cannot: while the imload
table is on screen (its first column is headed ``imload figure``) it paints red the
rows whose note starts with the alert sign (an anomaly seen live), and, below the
table, a panel it owns: one badge per live anomaly kind (red when above 0), the
active faults, the pushes of unknown age and the acked-but-unseen curve, from
``./imload/live`` every second. On any other tab it removes its panel. It never
changes what React rendered except for one class on a row.
"""

TAB_JS = r"""
(function () {
  "use strict";
  var PANEL = "imload-panel", EVERY_MS = 1000, ALERT = "\u26a0";
  var CSS = [
    "tr.imload-alert td{background:#ffebe9 !important;color:#cf222e !important;",
    "font-weight:700 !important}",
    "#imload-panel{margin:16px 0;padding:12px 16px;border:1px solid #d1d9e0;",
    "border-radius:8px;font:14px/1.5 'DejaVu Sans','Liberation Sans',Arial,sans-serif}",
    "#imload-panel h3{margin:0 0 8px;font-size:17px}",
    "#imload-panel .badge{display:inline-block;margin:0 10px 8px 0;padding:6px 16px;",
    "border-radius:6px;font-size:16px;font-weight:700;background:#dafbe1;color:#1a7f37}",
    "#imload-panel .badge.bad{background:#cf222e;color:#fff}",
    "#imload-panel p{margin:4px 0}",
    "#imload-panel svg.chart{width:100%;max-width:900px;height:auto;display:block;",
    "font:11px 'DejaVu Sans','Liberation Sans',Arial,sans-serif}",
    "#imload-panel svg .plot{fill:none;stroke:none} #imload-panel svg .grid{stroke:#d0d7de}",
    "#imload-panel svg .axis{stroke:#8c959f} #imload-panel svg .tick{fill:#8c959f}",
    "#imload-panel svg .axis-label,#imload-panel svg .legend{fill:#8c959f;font-size:12px}",
    "#imload-panel svg .empty{fill:#8c959f;font-size:14px}"
  ].join("");

  function imloadTable() {
    var heads = document.querySelectorAll("th");
    for (var i = 0; i < heads.length; i++) {
      if (heads[i].textContent.trim() === "imload figure") return heads[i].closest("table");
    }
    return null;
  }

  function paintRows(table) {
    var rows = table.querySelectorAll("tbody tr");
    for (var i = 0; i < rows.length; i++) {
      var note = rows[i].cells.length > 2 ? rows[i].cells[2].textContent : "";
      rows[i].classList.toggle("imload-alert", note.indexOf(ALERT) === 0);
    }
  }

  function add(parent, tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    parent.appendChild(e);
    return e;
  }

  function render(panel, d) {
    panel.textContent = "";
    add(panel, "h3", null, "imload: live anomalies");
    var badges = add(panel, "div", "badges");
    var kinds = Object.keys(d.anomalies || {}).sort();
    kinds.forEach(function (k) {
      var n = d.anomalies[k];
      add(badges, "span", n > 0 ? "badge bad" : "badge", k + ": " + n);
    });
    if (!kinds.length) add(badges, "span", "badge", "anomalies: n/a");
    add(panel, "p", "faults", "Active faults: " + d.faults.text);
    var unknown = d.unknown_push_ages ? 0 : "n/a (counted by each worker)";
    Object.keys(d.unknown_push_ages || {}).forEach(function (k) {
      unknown += d.unknown_push_ages[k];
    });
    add(panel, "p", "unknown", "Pushes of unknown age (not in Locust's push rows): " + unknown);
    add(panel, "p", "caption", "Acked but unseen, one point every 2 s:");
    add(panel, "div", "curve").innerHTML = d.curve_svg;  // SVG made by imload, labels escaped
    add(panel, "p", "scope", "Scope: " + d.scope);
  }

  function tick() {
    var table = imloadTable(), panel = document.getElementById(PANEL);
    if (!table) {
      if (panel) panel.remove();
      return;
    }
    paintRows(table);
    if (!panel) {
      panel = document.createElement("div");
      panel.id = PANEL;
      var box = table.closest(".MuiTableContainer-root") || table;
      box.parentNode.insertBefore(panel, box.nextSibling);
    }
    fetch("./imload/live", {cache: "no-store"})
      .then(function (r) { return r.json(); })
      .then(function (d) { render(panel, d); paintRows(table); })
      .catch(function (e) { panel.textContent = "imload: ./imload/live failed: " + e; });
  }

  var style = document.createElement("style");
  style.textContent = CSS;
  document.head.appendChild(style);
  tick();
  setInterval(tick, EVERY_MS);
})();
"""
