"""The self-contained HTML page (``REPORTERS`` name ``html``): one file, no server, no network.

Plots are embedded as base64 PNG, styles and the small sorting script are inline, so the page opens from
disk, from an e-mail attachment or a CI artifact alike. Tables sort by clicking a header (numbers by
their raw value, not their formatted text). Two hooks make the page testable in a headless browser:

* ``page.html?sort=<table id>:<column>:<asc|desc>`` sorts a table on load, and
  ``?click=<table id>:<column>:<n>`` clicks a header ``n`` times (``--dump-dom`` then shows the result);
* uncaught script errors are counted in ``<html data-errors>``, and the page logs ``rvosbench-page-ready``
  to the console once its script ran, so a test can tell "no errors" from "script never ran".
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from rvosbench.core.registry import REPORTERS
from rvosbench.report.document import Document, Section
from rvosbench.report.table import Cell, Table, is_missing

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
main{max-width:1560px;margin:0 auto;padding:20px 28px 60px}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;margin:34px 0 8px;border-bottom:1px solid #d6dae0;padding-bottom:4px}
h3{font-size:15px;margin:20px 0 6px}p.intro,p.note{color:#4a5561;margin:4px 0}p.note{font-size:12px}
nav a{margin-right:14px;color:#0b5cad;text-decoration:none}
.tablewrap{overflow-x:auto;background:#fff;border:1px solid #d6dae0;border-radius:6px}
table.sortable{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
table.sortable th,table.sortable td{padding:5px 8px;border-bottom:1px solid #eceef1;white-space:nowrap}
table.sortable th{background:#eef1f5;cursor:pointer;user-select:none;text-align:right;position:sticky;top:0}
table.sortable th.text,table.sortable td.text{text-align:left}table.sortable td{text-align:right}
table.sortable th .group{display:block;font-weight:normal;color:#5b6670;font-size:11px}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2"}table.sortable th[aria-sort=descending]::after{content:" \\25BC"}
table.sortable tbody tr:hover{background:#f3f8ff}sup.mark{color:#b3261e;font-weight:bold}
figure{margin:14px 0;background:#fff;border:1px solid #d6dae0;border-radius:6px;padding:8px;display:inline-block;max-width:100%}
figure img{max-width:100%;height:auto}figcaption{font-size:12px;color:#4a5561}
details{background:#fff;border:1px solid #d6dae0;border-radius:6px;margin:6px 0;padding:6px 10px}
details summary{cursor:pointer;font-weight:600}details table{font-size:12px;border-collapse:collapse}
details td{padding:2px 10px 2px 0;vertical-align:top}details pre{margin:0;white-space:pre-wrap;font-size:12px}
footer{margin-top:40px;color:#5b6670;font-size:12px}
"""

SCRIPT = """
(function(){
  function key(cell, numeric){
    var v = cell.getAttribute('data-value');
    if (numeric && v !== null && v !== '') return parseFloat(v);
    return numeric ? NaN : cell.textContent.trim().toLowerCase();
  }
  function sortTable(table, col, dir){
    var head = table.tHead.rows[table.tHead.rows.length - 1].cells[col];
    var numeric = head.getAttribute('data-type') === 'number';
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function(a, b){
      var x = key(a.cells[col], numeric), y = key(b.cells[col], numeric);
      if (numeric){  // missing values always last
        if (isNaN(x)) return isNaN(y) ? 0 : 1;
        if (isNaN(y)) return -1;
      }
      var c = x < y ? -1 : (x > y ? 1 : 0);
      return dir === 'desc' ? -c : c;
    });
    rows.forEach(function(r){ body.appendChild(r); });
    Array.prototype.forEach.call(head.parentNode.cells, function(h){ h.removeAttribute('aria-sort'); });
    head.setAttribute('aria-sort', dir === 'desc' ? 'descending' : 'ascending');
    table.setAttribute('data-sorted', col + ':' + dir);
  }
  window.rvosbenchSort = sortTable;
  document.querySelectorAll('table.sortable').forEach(function(table){
    var heads = table.tHead.rows[table.tHead.rows.length - 1].cells;
    Array.prototype.forEach.call(heads, function(h, col){
      h.addEventListener('click', function(){
        var numeric = h.getAttribute('data-type') === 'number';
        var current = h.getAttribute('aria-sort');
        var dir = current ? (current === 'ascending' ? 'desc' : 'asc') : (numeric ? 'desc' : 'asc');
        sortTable(table, col, dir);
      });
    });
  });
  function hook(name, act){
    var match = new RegExp('[?&]' + name + '=([^&]+)').exec(window.location.search);
    if (!match) return;
    var parts = decodeURIComponent(match[1]).split(':');
    var table = document.getElementById(parts[0]);
    if (table) act(table, parseInt(parts[1], 10), parts[2]);
  }
  hook('sort', function(table, col, dir){ sortTable(table, col, dir || 'asc'); });
  hook('click', function(table, col, times){  // real clicks on a header, as a user would
    var heads = table.tHead.rows[table.tHead.rows.length - 1].cells;
    for (var i = 0; i < (parseInt(times, 10) || 1); i++) heads[col].click();
  });
  document.documentElement.setAttribute('data-ready', '1');
  console.log('rvosbench-page-ready');
})();
"""

ERROR_HOOK = """
document.documentElement.setAttribute('data-errors', '0');
window.addEventListener('error', function(){
  var n = parseInt(document.documentElement.getAttribute('data-errors') || '0', 10) + 1;
  document.documentElement.setAttribute('data-errors', String(n));
});
"""


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _cell(cell: Cell, numeric: bool) -> str:
    text = _esc(cell.text)
    if cell.bold and text:
        text = f"<strong>{text}</strong>"
    if cell.mark:
        text += f'<sup class="mark">{_esc(cell.mark)}</sup>'
    attrs = ' class="text"' if not numeric else ""
    if cell.value is not None and not is_missing(cell.value):
        attrs += f' data-value="{float(cell.value):.12g}"'
    if cell.title:
        attrs += f' title="{_esc(cell.title)}"'
    return f"<td{attrs}>{text}</td>"


def html_table(table: Table) -> str:
    """A sortable ``<table id=table.name>``; group labels sit above each column label."""
    heads = []
    for column in table.columns:
        group = f'<span class="group">{_esc(column.group)}</span>' if column.group else ""
        kind = 'data-type="number"' if column.numeric else 'data-type="text" class="text"'
        heads.append(f"<th {kind} title=\"click to sort\">{group}{_esc(column.label)}</th>")
    body = "\n".join("<tr>" + "".join(_cell(cell, col.numeric) for cell, col in zip(row, table.columns)) + "</tr>"
                     for row in table.rows)
    notes = f'<p class="note">{_esc(" ".join(table.notes))}</p>' if table.notes else ""
    return (f'<h3>{_esc(table.title)}</h3><div class="tablewrap"><table class="sortable" id="{_esc(table.name)}">'
            f"<thead><tr>{''.join(heads)}</tr></thead><tbody>\n{body}\n</tbody></table></div>{notes}")


def embed_png(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{_esc(path.stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_esc(path.name)}</figcaption></figure>")


def _details(summary: str, fields: dict[str, Any]) -> str:
    rows = []
    for name, value in fields.items():
        text = value if isinstance(value, str) else json.dumps(value, indent=1, default=str, ensure_ascii=False)
        rows.append(f"<tr><td>{_esc(name)}</td><td><pre>{_esc(text)}</pre></td></tr>")
    return f"<details><summary>{_esc(summary)}</summary><table>{''.join(rows)}</table></details>"


def _section(section: Section, anchor: str) -> str:
    parts = [f'<h2 id="{anchor}">{_esc(section.heading)}</h2>']
    parts += [f'<p class="intro">{_esc(text)}</p>' for text in section.text]
    parts += [html_table(table) for table in section.tables]
    parts += [embed_png(plot) for plot in section.plots]
    parts += [_details(summary, fields) for summary, fields in section.details]
    return "\n".join(parts)


def render_page(document: Document) -> str:
    anchors = [f"s{i}" for i in range(len(document.sections))]
    nav = " ".join(f'<a href="#{a}">{_esc(s.heading)}</a>' for a, s in zip(anchors, document.sections))
    intro = "".join(f'<p class="intro">{_esc(line)}</p>' for line in document.intro)
    sections = "\n".join(_section(s, a) for s, a in zip(document.sections, anchors))
    footer = "<br>".join(_esc(line) for line in document.footer)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{_esc(document.title)}</title><script>{ERROR_HOOK}</script><style>{STYLE}</style></head>"
            f"<body><main><h1>{_esc(document.title)}</h1>{intro}<nav>{nav}</nav>\n{sections}\n"
            f"<footer>{footer}</footer></main><script>{SCRIPT}</script></body></html>\n")


@REPORTERS.register_module(name="html")
def write_html(document: Document, out_dir: Path) -> list[Path]:
    """Write ``<stem>.html``: every section with sortable tables, embedded plots and cell details."""
    path = out_dir / f"{document.stem}.html"
    path.write_text(render_page(document), encoding="utf-8")
    return [path]
