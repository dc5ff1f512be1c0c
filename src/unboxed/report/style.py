"""The report's CSS: one sober style for screen, narrow screens and print; no web fonts, no URLs.

Every rule is scoped under `.unboxed-report` so the same CSS can sit inside a notebook's output
without restyling the notebook; `PAGE_CSS` adds what only a stand-alone page needs.
"""

REPORT_CSS = """
.unboxed-report{--ink:#1c2230;--muted:#5a6272;--rule:#dce0e6;--soft:#f6f7f9;--accent:#1f4e8c;
--ok:#1d6336;--ok-bg:#e7f3eb;--ok-line:#9fcbad;--warning:#7a4f00;--warning-bg:#fdf3dc;--warning-line:#e3c27a;
--bad:#9b1c24;--bad-bg:#fbe8e9;--bad-line:#e2a4a8;--info:#1f4e8c;--info-bg:#eaf1fa;--info-line:#a9c1e3;
font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);
background:#fff;max-width:60rem;margin:0 auto;padding:2.5rem 1.5rem 3rem}
.unboxed-report *{box-sizing:border-box}
.unboxed-report header{border-bottom:3px solid var(--accent);padding-bottom:1rem;margin-bottom:1.75rem}
.unboxed-report h1{font-size:1.85rem;line-height:1.2;margin:0 0 .35rem;letter-spacing:-.01em}
.unboxed-report .subtitle{color:var(--muted);font-size:1.05rem;margin:0}
.unboxed-report h1,.unboxed-report h2,.unboxed-report h3,.unboxed-report p,.unboxed-report dd,
.unboxed-report .callout,.unboxed-report figcaption,.unboxed-report summary{overflow-wrap:anywhere}
.unboxed-report a{color:var(--accent)}
.unboxed-report .toc{background:var(--soft);border:1px solid var(--rule);border-radius:6px;padding:.8rem 1.25rem .9rem;margin:0 0 2.25rem}
.unboxed-report .toc-title{font-size:.78rem;font-weight:600;letter-spacing:.06em;text-transform:uppercase;color:var(--muted);margin:0 0 .35rem}
.unboxed-report .toc ol{margin:0;padding-left:1.5rem}
.unboxed-report .toc li{margin:.1rem 0}
.unboxed-report section{margin:0 0 2.75rem}
.unboxed-report h2{font-size:1.4rem;line-height:1.3;margin:0 0 .9rem;padding-bottom:.35rem;border-bottom:1px solid var(--rule)}
.unboxed-report h3{font-size:1.1rem;line-height:1.35;margin:1.75rem 0 .5rem}
.unboxed-report p{margin:.65rem 0}
.unboxed-report .table-wrap{overflow-x:auto;max-width:100%;margin:1rem 0 1.25rem}
.unboxed-report table{border-collapse:collapse;font-size:.9rem;line-height:1.4}
.unboxed-report caption{caption-side:top;text-align:left;font-weight:600;padding:0 0 .45rem}
.unboxed-report th,.unboxed-report td{padding:.4rem .8rem;text-align:left;vertical-align:top;border-bottom:1px solid var(--rule);overflow-wrap:break-word}
.unboxed-report thead th{background:var(--soft);border-bottom:2px solid #b8bfca;font-weight:600}
.unboxed-report tbody tr:nth-child(even){background:#fbfbfc}
.unboxed-report .num{text-align:right;font-variant-numeric:tabular-nums}
.unboxed-report td.num{white-space:nowrap}
.unboxed-report td.empty{color:var(--muted);font-style:italic}
.unboxed-report td.ok{background:var(--ok-bg);color:var(--ok);font-weight:600}
.unboxed-report td.warning{background:var(--warning-bg);color:var(--warning);font-weight:600}
.unboxed-report td.bad{background:var(--bad-bg);color:var(--bad);font-weight:700}
.unboxed-report figure{margin:1.5rem 0;text-align:center}
.unboxed-report figure img{max-width:100%;height:auto;display:inline-block}
.unboxed-report figcaption{color:var(--muted);font-size:.9rem;max-width:46rem;margin:.5rem auto 0}
.unboxed-report .callout{border:1px solid;border-left-width:5px;border-radius:4px;padding:.7rem 1rem;margin:1rem 0}
.unboxed-report .callout-label{font-weight:700;margin-right:.5rem}
.unboxed-report .callout.info{background:var(--info-bg);border-color:var(--info-line);border-left-color:var(--info)}
.unboxed-report .callout.info .callout-label{color:var(--info)}
.unboxed-report .callout.ok{background:var(--ok-bg);border-color:var(--ok-line);border-left-color:var(--ok)}
.unboxed-report .callout.ok .callout-label{color:var(--ok)}
.unboxed-report .callout.warning{background:var(--warning-bg);border-color:var(--warning-line);border-left-color:var(--warning)}
.unboxed-report .callout.warning .callout-label{color:var(--warning)}
.unboxed-report .callout.bad{background:var(--bad-bg);border-color:var(--bad-line);border-left-color:var(--bad)}
.unboxed-report .callout.bad .callout-label{color:var(--bad)}
.unboxed-report dl.facts{display:grid;grid-template-columns:fit-content(45%) minmax(0,1fr);gap:.4rem 1.5rem;
margin:1rem 0;padding:.85rem 1.1rem;border:1px solid var(--rule);border-radius:6px}
.unboxed-report dl.facts dt{color:var(--muted);font-weight:600}
.unboxed-report dl.facts dd{margin:0}
.unboxed-report pre.code{background:var(--soft);border:1px solid var(--rule);border-radius:4px;padding:.7rem 1rem;margin:1rem 0;
white-space:pre-wrap;overflow-wrap:anywhere;font:.85rem/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
.unboxed-report details{border:1px solid var(--rule);border-radius:6px;padding:.55rem 1rem;margin:1rem 0}
.unboxed-report summary{cursor:pointer;font-weight:600}
.unboxed-report details[open]>summary{margin-bottom:.4rem}
@media (max-width:40rem){
.unboxed-report{padding:1.25rem .9rem 2rem;font-size:15px}
.unboxed-report h1{font-size:1.5rem}
.unboxed-report dl.facts{grid-template-columns:minmax(0,1fr);gap:.1rem}
.unboxed-report dl.facts dd{margin-bottom:.5rem}
}
@media print{
.unboxed-report{max-width:none;padding:0;font-size:10.5pt}
.unboxed-report *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
.unboxed-report a{color:inherit;text-decoration:none}
.unboxed-report h2,.unboxed-report h3,.unboxed-report caption{break-after:avoid}
.unboxed-report figure,.unboxed-report .callout,.unboxed-report tr,.unboxed-report dl.facts,.unboxed-report pre.code{break-inside:avoid}
.unboxed-report .table-wrap{overflow:visible}
.unboxed-report summary{list-style:none}
}
/* printed, folded details show their content; a rule of its own, as a browser that does not know
::details-content drops the whole rule */
@media print{.unboxed-report details::details-content{content-visibility:visible;display:block}}
"""

PAGE_CSS = """
html{color-scheme:light}
body{margin:0;background:#eceef2}
@media (min-width:64rem){body{padding:2rem 0}main.unboxed-report{border-radius:8px;box-shadow:0 1px 3px rgba(20,30,50,.12)}}
@media print{body{background:#fff;padding:0}main.unboxed-report{box-shadow:none}}
"""
