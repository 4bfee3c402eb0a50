"""report.html's style sheet (inline in the page: it loads nothing from anywhere)."""

CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--ink:#1f2328;--dim:#59636e;--line:#d1d9e0;
--bg:#f6f8fa;--card:#fff;--unk:#bc4c00}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 -apple-system,"Segoe UI",
"Noto Sans","Liberation Sans","DejaVu Sans",Helvetica,Arial,sans-serif}
main{max-width:1180px;margin:0 auto;padding:0 24px 48px}
header{padding:12px 24px 8px;color:#fff}
header.pass{background:linear-gradient(135deg,#116329,#1a7f37)}
header.fail{background:linear-gradient(135deg,#a40e26,#cf222e)}
header.unknown{background:linear-gradient(135deg,#7a4100,#bc4c00)}
header .inner{max-width:1180px;margin:0 auto;padding:0 24px}
.badge{display:inline-block;font-weight:700;letter-spacing:.08em;padding:4px 12px;
border-radius:6px;background:rgba(255,255,255,.2);border:1px solid rgba(255,255,255,.5)}
h1{display:inline;font-size:22px;margin:0 0 0 12px;font-weight:600;vertical-align:middle}
header p{margin:2px 0;opacity:.92}
.why span{display:inline-block;background:rgba(0,0,0,.22);border-radius:12px;padding:1px 10px;
margin:4px 6px 0 0;font-size:13px}
nav{margin:6px 0 0;font-size:13px}
nav a{color:#fff;opacity:.85;margin-right:14px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:18px 22px;margin:20px 0}
h2{font-size:19px;margin:0 0 12px;font-weight:600}
h3{font-size:15px;margin:14px 0 2px;font-weight:600}
.note{color:var(--dim);font-size:13px;margin:0 0 6px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:12px;
margin-top:20px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 16px}
.card .v{font-size:24px;font-weight:600;font-variant-numeric:tabular-nums}
.card .k{color:var(--dim);font-size:13px}
.card.bad{border-color:var(--bad)} .card.bad .v{color:var(--bad)}
.card.warn{border-color:var(--warn)} .card.warn .v{color:var(--warn)}
.card.unknown{border:2px solid var(--unk)} .card.unknown .v{color:var(--unk)}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:13px;color:var(--dim);font-weight:600}
td.n,th.n{text-align:right;white-space:nowrap}
tr:nth-child(even) td{background:#fafbfc}
.ok{color:var(--ok);font-weight:600} .bad{color:var(--bad);font-weight:600}
.chip{display:inline-block;border:1px solid #aceebb;background:#dafbe1;color:#116329;
border-radius:12px;padding:0 10px;margin:0 6px 6px 0;font-size:13px}
.two{display:grid;grid-template-columns:1fr 1fr;gap:0 28px;align-items:start}
#anomalies td:first-child{width:150px} #anomalies td:nth-child(2){width:80px}
.pill{display:inline-block;border-radius:10px;padding:0 9px;font-size:12px;font-weight:600}
.pill.ok{background:#dafbe1} .pill.bad{background:#ffebe9}
.pill{white-space:nowrap} .pill.warn{background:#fff1e5;color:var(--unk)}
section.unknown{border:2px solid var(--unk);background:#fff8f2}
section.unknown h2{color:var(--unk)} ul.why-unknown li{margin:6px 0}
tr.short td{background:#fff1e5} tr.accepted td{background:#fffbe6}
details{margin:2px 0} summary{cursor:pointer}
.case{border-left:3px solid var(--bad);padding:4px 10px;margin:8px 0;background:#fff8f7}
pre{font:12px/1.45 ui-monospace,"DejaVu Sans Mono","Liberation Mono",Menlo,monospace;
background:#f6f8fa;border:1px solid var(--line);border-radius:6px;padding:8px 10px;
overflow-x:auto;margin:6px 0;white-space:pre}
figure{margin:8px 0 18px}
svg.chart{width:100%;height:auto;display:block;font:11px "DejaVu Sans","Liberation Sans",
Arial,sans-serif}
svg .plot{fill:#fff;stroke:none} svg .grid{stroke:#eaeef2} svg .axis{stroke:#8c959f}
svg .tick{fill:#59636e} svg .axis-label{fill:#59636e;font-size:12px}
svg .legend{fill:#1f2328;font-size:12px} svg .band-label{font-size:11px;font-weight:600}
svg .mark{font-size:11px} svg .empty{fill:#8c959f;font-size:14px}
ul.plain{margin:4px 0;padding-left:20px}
.first-screen{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:14px;
align-items:start;margin:12px 0} .first-screen.single{grid-template-columns:1fr}
@media (max-width:900px){.first-screen{grid-template-columns:1fr}}
section.first{padding:10px 16px;margin:0}
section.first h2{display:inline;font-size:17px;margin:0 12px 0 0}
section.first h2+p.note{display:inline}
.label{display:inline-block;min-width:52px;color:var(--dim);font-size:12px;font-weight:600;
text-transform:uppercase;letter-spacing:.04em;margin-right:8px}
p.faults{margin:6px 0}
.fault{display:inline-block;border:1px solid var(--line);border-radius:12px;padding:0 10px;
margin:0 6px 0 0;font-size:14px;background:#fff8e6}
ul.found{list-style:none;margin:4px 0 0;padding:0}
ul.found li{margin:6px 0 0} .def{color:var(--dim);font-size:14px}
.example{font-size:14px;border-left:3px solid var(--bad);padding:1px 8px;margin:2px 0 0;
background:#fff8f7;overflow:hidden;display:-webkit-box;-webkit-line-clamp:3;
-webkit-box-orient:vertical}
.finding{color:var(--warn);font-weight:600} p.clean,p.errors{margin:6px 0 0}
.plots figure{margin:0} .plots figure+figure{margin-top:8px}
.plots figcaption{font-size:14px;line-height:1.3}
footer{color:var(--dim);font-size:12px;text-align:center;margin-top:24px}
"""
