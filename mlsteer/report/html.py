"""``mlsteer report RUN_DIR``: one self-contained HTML page for everything a run wrote.

The page holds ``summary.md`` (if any); the config and commands that made the run
(:mod:`mlsteer.report.config`); each chosen vector's size against the residual stream with its
flags (:mod:`mlsteer.report.vectors`); example generations (:mod:`mlsteer.report.examples`);
the paper-style tables of every ``results.sqlite`` under the run, each with its items per cell;
and every saved figure (``figures/*.json``, re-rendered), grouped by kind. Tables scroll inside
their box, never past the page. plotly.js is
inlined once in the head, so the file opens offline; nothing is fetched from the network. A tiny
script collects JavaScript errors into ``<pre id="mlsteer-js-errors">`` for headless checks.
"""

from __future__ import annotations

import datetime as _dt
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import plotly.graph_objects as go

from mlsteer.errors import MlsteerError
from mlsteer.io import check_writable, write_text_atomic
from mlsteer.plots.io import load_figures
from mlsteer.report.config import commands, config_toml, load_record
from mlsteer.report.examples import examples_html, load_examples
from mlsteer.report.exports import EXPORTS
from mlsteer.report.vectors import NEAR_NULL, scales_markdown, vector_scales

REPORT = "report.html"
SUMMARY = "summary.md"
RESULTS = "results.sqlite"
ERRORS_ID = "mlsteer-js-errors"

# (key, heading, name prefixes): figures are grouped by the first matching prefix, in this order.
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("similarity", "Similarity to English", ("similarity",)),
    ("lens", "Logit lens", ("lens",)),
    ("wendler", "Latent language (Wendler et al.)", ("wendler",)),
    ("sweep", "Sweeps", ("sweep",)),
    ("transfer", "Transfer", ("transfer",)),
    ("english", "English", ("english",)),
    ("pivot", "Pivot language", ("pivot",)),
    ("pca", "PCA and distributions", ("pca", "distribution")),
    ("other", "Other figures", ("",)),
)

PRODUCERS = "mlsteer eval, mlsteer similarity, mlsteer lens, mlsteer sweep or mlsteer transfer"


@dataclass
class ReportPaths:
    """What :func:`build_report` wrote."""

    html: Path
    exports: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # export path -> why it was not written
    figures: list[str] = field(default_factory=list)
    tables: int = 0


@dataclass
class _Section:
    id: str
    title: str
    body: str
    children: list[tuple[str, str]] = field(default_factory=list)  # (id, title) for the contents


def build_report(
    run_dir: str | os.PathLike, out: str | os.PathLike | None = None, exports: bool = True
) -> ReportPaths:
    """Write ``RUN_DIR/report.html`` (or ``out``) and, with ``exports``, ``RUN_DIR/exports/*.png|svg``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MlsteerError(
            f"{run_dir} is not a folder; pass a run folder written by {PRODUCERS} (--out)"
        )
    out_path = check_writable(
        Path(out) if out is not None else run_dir / REPORT
    )  # before the slow exports
    summary = run_dir / SUMMARY
    summary_text = summary.read_text(encoding="utf-8") if summary.is_file() else None
    figures = load_figures(run_dir)
    tables = _load_tables(run_dir)
    notes = _load_notes(run_dir)
    if (
        not figures
        and not tables
        and not notes
        and not (summary_text and summary_text.strip())
        and load_examples(run_dir) is None
    ):
        raise MlsteerError(
            f"{run_dir} has nothing to report: no figures (figures/*.json), no results.sqlite with rows "
            f"and no {SUMMARY}; fill it first with {PRODUCERS} --out {run_dir}"
        )

    paths = ReportPaths(out_path, figures=list(figures), tables=sum(len(t) for _, t in tables))
    if exports and figures:
        from mlsteer.report.exports import export_figures

        paths.exports, paths.skipped = export_figures(figures, run_dir / EXPORTS)

    page = render_page(run_dir, out_path, summary_text, tables, figures, paths.exports, notes)
    write_text_atomic(
        out_path, page
    )  # a killed build leaves the previous report, never half of one
    return paths


def _load_tables(run_dir: Path) -> list[tuple[str, list]]:
    """``[(folder relative to the run, [ResultTable, ...]), ...]`` for every non-empty store."""
    from mlsteer.evaluation.store import ResultStore
    from mlsteer.evaluation.table import build_tables

    found = []
    for db in sorted(
        run_dir.rglob(RESULTS), key=lambda p: (len(p.relative_to(run_dir).parts), str(p))
    ):
        store = ResultStore(db.parent)
        try:
            tables = build_tables(store)
        finally:
            store.close()
        if tables:
            found.append((db.parent.relative_to(run_dir).as_posix(), tables))
    return found


def _load_notes(run_dir: Path) -> list[tuple[str, str]]:
    """``[(path relative to the run, markdown), ...]``: the tables analyses write beside their
    data (``sweep_*.md``, ``transfer_*.md``, ``pivot_*.md``...); ``table.md`` repeats the stores."""
    skip = {SUMMARY, "table.md"}
    found = sorted(
        p for p in run_dir.rglob("*.md") if p.name not in skip and EXPORTS not in p.parts
    )
    return [(p.relative_to(run_dir).as_posix(), p.read_text(encoding="utf-8")) for p in found]


def group_of(name: str) -> str:
    lowered = name.lower()
    return next(key for key, _, prefixes in GROUPS if any(lowered.startswith(p) for p in prefixes))


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "section"
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _markdown(text: str) -> str:
    from markdown_it import MarkdownIt

    # raw HTML off: a summary must not smuggle in <script src=...> or remote images
    rendered = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)
    # every table in a box that scrolls sideways, so a wide one never widens the page
    return rendered.replace("<table>", '<div class="table"><table>').replace(
        "</table>", "</table></div>"
    )


def n_markdown(table) -> str:
    """Items scored per method x language of a :class:`ResultTable` (what each cell's
    accuracy is over)."""
    from mlsteer.evaluation.table import label

    lines = [
        f"*n (items scored) per cell, {table.task}*",
        "",
        "| method | " + " | ".join(table.langs) + " |",
        "|---" * (len(table.langs) + 1) + "|",
    ]
    for method in table.methods:
        cells = table.cells.get(method, {})
        counts = [str(cells[lang].n) if lang in cells else "–" for lang in table.langs]
        lines.append(f"| {label(method)} | " + " | ".join(counts) + " |")
    return "\n".join(lines)


def _config(record: dict, run_dir: Path) -> str:
    """The commands that reproduce the run, then its config as TOML."""
    shown = "\n".join(commands(record, run_dir.resolve()))
    return (
        "<p>Commands (the config below is what ran; <code>device</code> and <code>out</code> "
        "are not part of a run's identity):</p>\n"
        f'<pre class="code"><code>{html.escape(shown)}</code></pre>\n'
        f'<details open><summary>config.toml</summary><pre class="code"><code>'
        f"{html.escape(config_toml(record))}</code></pre></details>"
    )


def _vectors(scales: list) -> str:
    explain = (
        f"Size of each chosen vector (alpha baked in) against the mean residual norm at its layer, "
        f"and its chosen cell's validation accuracy against unsteered on the same items. "
        f"**near-null**: the ratio is below {NEAR_NULL:g}, so the vector barely moves the "
        f"residual and its rows sit on unsteered by construction. **below unsteered**: the best "
        f"cell of the sweep was still worse than no steering on validation."
    )
    return _markdown(explain) + _markdown(scales_markdown(scales))


def _figure_html(figure: go.Figure, div_id: str) -> str:
    return figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        default_width="100%",
        default_height="520px",
        config={"responsive": True, "displaylogo": False},
    )


def render_page(
    run_dir: Path,
    out_path: Path,
    summary: str | None,
    tables: list[tuple[str, list]],
    figures: dict[str, go.Figure],
    exported: list[Path] | None = None,
    notes: list[tuple[str, str]] | None = None,
) -> str:
    from plotly.offline import get_plotlyjs

    taken: set[str] = {ERRORS_ID, "contents"}
    figure_slugs: set[str] = set()
    sections: list[_Section] = []
    if summary and summary.strip():
        sections.append(_Section(_slug("summary", taken), "Summary", _markdown(summary)))
    record = load_record(run_dir)
    if record is not None:
        sections.append(
            _Section(_slug("config", taken), "Config and commands", _config(record, run_dir))
        )
    scales = vector_scales(run_dir)
    if scales:
        sections.append(_Section(_slug("vectors", taken), "Chosen vectors", _vectors(scales)))
    examples = load_examples(run_dir)
    if examples is not None:
        ids = {lang: _slug(f"examples-{lang}", taken) for lang in examples["languages"]}
        sections.append(
            _Section(
                _slug("examples", taken),
                "Example generations",
                examples_html(examples, ids),
                [(cid, lang) for lang, cid in ids.items()],
            )
        )
    if notes:
        children = [(_slug(f"note-{name}", taken), name) for name, _ in notes]
        body = "\n".join(
            f'<h3 id="{cid}">{html.escape(name)}</h3>\n{_markdown(text)}'
            for (cid, name), (_, text) in zip(children, notes)
        )
        sections.append(_Section(_slug("analyses", taken), "Analysis tables", body, children))
    if tables:
        parts, children = [], []
        for folder, folder_tables in tables:
            sub_id = _slug(f"results-{folder}" if folder != "." else "results-run", taken)
            title = f"{folder}/{RESULTS}" if folder != "." else RESULTS
            children.append((sub_id, title))
            rendered = "\n".join(
                _markdown(t.markdown()) + _markdown(n_markdown(t)) for t in folder_tables
            )
            parts.append(f'<h3 id="{sub_id}">{html.escape(title)}</h3>\n{rendered}')
        sections.append(
            _Section(_slug("tables", taken), "Results tables", "\n".join(parts), children)
        )

    by_path = {p.stem + p.suffix: p for p in exported or []}
    for key, heading, _ in GROUPS:
        names = [name for name in figures if group_of(name) == key]
        if not names:
            continue
        parts, children = [], []
        for name in names:
            slug = _slug(name, figure_slugs)  # heading "fig-{slug}", plot div "plot-{slug}"
            children.append((f"fig-{slug}", name))
            links = []
            for fmt in ("png", "svg"):
                if f"{name}.{fmt}" in by_path:
                    href = Path(
                        os.path.relpath(by_path[f"{name}.{fmt}"], out_path.parent)
                    ).as_posix()
                    links.append(f'<a href="{html.escape(href)}">{fmt.upper()}</a>')
            export_links = f' <span class="exports">{" · ".join(links)}</span>' if links else ""
            parts.append(
                f'<figure><h3 id="fig-{slug}">{html.escape(name)}{export_links}</h3>\n'
                f"{_figure_html(figures[name], f'plot-{slug}')}</figure>"
            )
        sections.append(_Section(_slug(f"group-{key}", taken), heading, "\n".join(parts), children))

    toc = "\n".join(
        f'<li><a href="#{s.id}">{html.escape(s.title)}</a>'
        + (
            "<ul>"
            + "".join(f'<li><a href="#{cid}">{html.escape(t)}</a></li>' for cid, t in s.children)
            + "</ul>"
            if s.children
            else ""
        )
        + "</li>"
        for s in sections
    )
    body = "\n".join(
        f'<section id="{s.id}">\n<h2>{html.escape(s.title)}</h2>\n{s.body}\n</section>'
        for s in sections
    )
    title = f"mlsteer report: {run_dir.resolve().name}"
    generated = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<script>{_ERROR_RECORDER}</script>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>{_CSS}</style>
</head>
<body>
<pre id="{ERRORS_ID}" hidden></pre>
<header><h1>{html.escape(title)}</h1></header>
<nav id="contents"><h2>Contents</h2><ul>
{toc}
</ul></nav>
<main>
{body}
</main>
<footer>Generated {html.escape(generated)} by mlsteer {html.escape(_version())} from
<code>{html.escape(str(run_dir.resolve()))}</code>.</footer>
</body>
</html>
"""


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("mlsteer")
    except Exception:
        from mlsteer import __version__

        return __version__


_ERROR_RECORDER = """
(function () {
  var errors = [];
  function show() {
    var pre = document.getElementById('__ERRORS_ID__');
    if (pre) { pre.textContent = errors.join('\\n'); }
  }
  function record(text) { errors.push(String(text)); show(); }
  window.addEventListener('error', function (event) {
    if (event.message) {
      record(event.message + (event.filename ? ' (' + event.filename + ':' + event.lineno + ')' : ''));
    } else if (event.target && event.target !== window) {
      record('failed to load ' + (event.target.src || event.target.href || event.target.tagName));
    }
  }, true);
  window.addEventListener('unhandledrejection', function (event) {
    var reason = event.reason;
    record('unhandled rejection: ' + (reason && reason.message ? reason.message : reason));
  });
  var original = console.error;
  console.error = function () {
    record(Array.prototype.map.call(arguments, String).join(' '));
    return original.apply(console, arguments);
  };
  document.addEventListener('DOMContentLoaded', show);
})();
""".replace("__ERRORS_ID__", ERRORS_ID)  # a placeholder: the script is full of braces

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 0 1.5rem 2rem; color: #1f2933; line-height: 1.45; }
header h1 { margin: 1.5rem 0 0.5rem; }
nav#contents { background: #f5f7fa; border: 1px solid #e4e7eb; border-radius: 6px; padding: 0.5rem 1.5rem; }
nav#contents h2 { font-size: 1.1rem; margin: 0.5rem 0; }
nav ul { margin: 0.2rem 0; }
section { margin-top: 2rem; border-top: 1px solid #e4e7eb; }
figure { margin: 1.5rem 0; }
h3 .exports { font-size: 0.8rem; font-weight: normal; margin-left: 0.8rem; }
main, section, figure { min-width: 0; max-width: 100%; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #cbd2d9; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead { background: #f5f7fa; }
div.table { overflow-x: auto; max-width: 100%; margin: 0.5rem 0 1.5rem; }
div.table > table { margin: 0; }
table.generations { table-layout: fixed; width: 100%; min-width: 720px; }
table.generations td, table.generations th { white-space: pre-wrap; text-align: left;
       vertical-align: top; overflow-wrap: anywhere; }
td.hit, span.hit { background: #e3f9e5; }
span.gold, .muted { color: #616e7c; }
pre.code { background: #f5f7fa; border: 1px solid #e4e7eb; border-radius: 4px; padding: 0.6rem;
       overflow-x: auto; max-width: 100%; font-size: 0.85rem; }
h4 { margin: 1rem 0 0.3rem; }
footer { margin-top: 3rem; padding-top: 1rem; border-top: 1px solid #e4e7eb; color: #616e7c; font-size: 0.85rem; }
"""
