"""Build the example gallery: run every ``docs/examples/*.py``, keep its figures and output.

Each example is an ordinary script that calls ``figure.show()``; here each one runs in a fresh
Python process with ``show`` redirected so the figures are collected instead of opened. For an
example ``NAME.py`` this writes, under ``docs/gallery/`` (a build artefact, git-ignored):

- ``NAME/figure_K.png`` (kaleido, needs a Chrome/Chromium) and ``NAME/figure_K.html`` (interactive,
  loads the one shared ``plotly.min.js`` next to the pages, so the site works offline);
- ``NAME/manifest.json``: title, description, printed output, figures, run time;
- ``NAME.md``: the page (description, figures, printed output, source), and ``index.md``.

An example whose manifest is newer than its source is not rerun (``--force`` reruns it), so
``make docs`` is fast when no example changed. A failing example fails the build. A full build
(no NAME given) then executes the notebooks the same way (``docs/notebooks_build.py``).

    python docs/gallery_build.py [--force] [NAME ...]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
EXAMPLES = DOCS / "examples"
GALLERY = DOCS / "gallery"
PLOTLY_JS = "plotly.min.js"
TIMEOUT_S = 600


# --------------------------------------------------------------------------- running one example


def run_one(source: Path, out: Path) -> None:
    """Child process: run ``source`` as ``__main__`` with ``Figure.show`` collecting figures,
    then write them to ``out`` (PNG + HTML) and list them in ``out/figures.json``."""
    import runpy

    import plotly.basedatatypes
    import plotly.io

    shown = []

    def collect(figure, *args, **kwargs) -> None:
        shown.append(figure)

    plotly.basedatatypes.BaseFigure.show = collect
    plotly.io.show = collect
    sys.argv = [str(source)]
    runpy.run_path(str(source), run_name="__main__")
    sys.stdout.flush()

    from mlsteer.report.exports import export_figures

    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("figure_*.html"):
        stale.unlink()
    names = {f"figure_{k}": figure for k, figure in enumerate(shown, start=1)}
    for name, figure in names.items():  # interactive: sized by the browser window
        figure.write_html(out / f"{name}.html", include_plotlyjs=f"../{PLOTLY_JS}", full_html=True)
    for (
        figure
    ) in names.values():  # static: a fixed size so PNGs of multi-panel figures stay legible
        figure.update_layout(width=figure.layout.width or 1000, height=figure.layout.height or 520)
    written, skipped = export_figures(names, out, formats=("png",))
    figures = []
    for name, figure in names.items():
        png = out / f"{name}.png"
        figures.append(
            {
                "name": name,
                "title": figure.layout.title.text or "",
                "png": png.name if png in written else None,
                "png_skipped": skipped.get(str(png)),
                "html": f"{name}.html",
            }
        )
    (out / "figures.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")


def execute(source: Path, threads: int) -> dict:
    """Run one example in a fresh process with ``threads`` torch/OpenMP threads; its manifest
    (also written to disk)."""
    out = GALLERY / source.stem
    out.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "TQDM_DISABLE": "1",
        "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
        "PYTHONIOENCODING": "utf-8",
        "OMP_NUM_THREADS": str(threads),
    }
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--run-one", str(source), str(out)],
        check=False,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=TIMEOUT_S,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + "\n" + done.stderr[-6000:] + "\n")
        raise SystemExit(
            f"gallery: {source.name} failed (exit {done.returncode}); see the output above"
        )
    title, description = docstring_parts(source)
    manifest = {
        "source": source.name,
        "title": title,
        "description": description,
        "stdout": done.stdout,
        "figures": json.loads((out / "figures.json").read_text(encoding="utf-8")),
        "seconds": round(seconds, 1),
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8"
    )
    return manifest


def up_to_date(source: Path) -> bool:
    manifest = GALLERY / source.stem / "manifest.json"
    return manifest.is_file() and manifest.stat().st_mtime >= source.stat().st_mtime


# --------------------------------------------------------------------------- pages


def docstring_parts(source: Path) -> tuple[str, str]:
    """(title, description): the module docstring's first line and the rest."""
    doc = ast.get_docstring(ast.parse(source.read_text(encoding="utf-8"))) or source.stem
    title, _, rest = doc.partition("\n")
    return title.strip(), rest.strip()


def code_without_docstring(source: Path) -> str:
    text = source.read_text(encoding="utf-8")
    tree = ast.parse(text)
    if (
        tree.body
        and isinstance(tree.body[0], ast.Expr)
        and isinstance(getattr(tree.body[0], "value", None), ast.Constant)
    ):
        text = "\n".join(text.splitlines()[tree.body[0].end_lineno :])
    return text.strip("\n") + "\n"


def render_output(stdout: str) -> str:
    """Printed output as text blocks; runs of lines starting with ``|`` (markdown tables that an
    example prints) are rendered as tables."""
    blocks: list[tuple[bool, list[str]]] = []
    for line in stdout.rstrip("\n").splitlines():
        is_table = line.startswith("|")
        if not blocks or blocks[-1][0] != is_table:
            blocks.append((is_table, []))
        blocks[-1][1].append(line)
    parts = []
    for is_table, lines in blocks:
        parts.append("\n".join(lines) if is_table else "```text\n" + "\n".join(lines) + "\n```")
    return "\n\n".join(parts) if parts else "*(nothing printed)*"


def page(manifest: dict) -> str:
    name = Path(manifest["source"]).stem
    lines = [
        f"# {manifest['title']}",
        "",
        manifest["description"],
        "",
        (
            f"*Source: [`docs/examples/{manifest['source']}`](../examples/{manifest['source']}); "
            f"ran in {manifest['seconds']:.0f} s (model load included) on the embedded Gemma 3 270M, CPU. "
            f"Figures and output below come from that run.*"
        ),
        "",
    ]
    for k, figure in enumerate(manifest["figures"], start=1):
        label = figure["title"] or f"Figure {k}"
        lines.append(
            f"## Figure {k}: {strip_html(label)}"
            if len(manifest["figures"]) > 1
            else f"## {strip_html(label)}"
        )
        lines.append("")
        if figure["png"]:
            lines.append(f"![{strip_html(label)}]({name}/{figure['png']})")
        else:
            lines.append(
                f'!!! warning "No static image"\n    {figure["png_skipped"] or "kaleido wrote nothing"}'
            )
        lines += [
            "",
            f'[Open the interactive figure]({name}/{figure["html"]}){{: target="_blank" }}',
            "",
        ]
    lines += [
        "## Printed output",
        "",
        render_output(manifest["stdout"]),
        "",
        "## Source",
        "",
        "```python",
        code_without_docstring(EXAMPLES / manifest["source"]).rstrip("\n"),
        "```",
        "",
    ]
    return "\n".join(lines)


def strip_html(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text).replace("[", "(").replace("]", ")")


def index(manifests: list[dict]) -> str:
    lines = [
        "# Gallery",
        "",
        (
            "Short scripts, each producing figures from the **embedded Gemma 3 270M** with the data built into "
            "mlsteer (no benchmark folder, no network). `make docs` runs them (`docs/gallery_build.py`; "
            "an example whose source has not changed is not rerun) and builds these pages from what they "
            "printed and plotted. Run one yourself with `python docs/examples/NAME.py`: each `figure.show()` "
            "opens the figure in a browser."
        ),
        "",
    ]
    for manifest in manifests:
        name = Path(manifest["source"]).stem
        summary = manifest["description"].split("\n\n")[0].replace("\n", " ")
        lines += [f"## [{manifest['title']}]({name}.md)", ""]
        first = next((f for f in manifest["figures"] if f["png"]), None)
        if first:
            lines += [
                f'[![{manifest["title"]}]({name}/{first["png"]}){{: width="480" }}]({name}.md)',
                "",
            ]
        lines += [
            summary,
            "",
            f"*{len(manifest['figures'])} figure(s), {manifest['seconds']:.0f} s.*",
            "",
        ]
    return "\n".join(lines)


def write_plotly_js() -> None:
    from plotly.offline import get_plotlyjs

    path = GALLERY / PLOTLY_JS
    text = get_plotlyjs()
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def check_nav(names: list[str]) -> None:
    """Every gallery page must be in mkdocs.yml's nav (else it builds but nobody finds it)."""
    config = (DOCS.parent / "mkdocs.yml").read_text(encoding="utf-8")
    missing = [name for name in names if f"gallery/{name}.md" not in config]
    if missing:
        raise SystemExit(
            f"gallery: add {', '.join(f'gallery/{n}.md' for n in missing)} to the nav in mkdocs.yml"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="only these examples (file stems); default: all")
    parser.add_argument(
        "--force", action="store_true", help="rerun examples even if their outputs are up to date"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("MLSTEER_DOCS_THREADS", "1")),
        help="torch/OpenMP threads per example (default 1, or $MLSTEER_DOCS_THREADS): the examples' "
        "ops are small, and on a busy shared CPU threads that wait for each other made them "
        "3-6x slower than one thread",
    )
    parser.add_argument("--run-one", nargs=2, metavar=("SOURCE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_one:
        run_one(Path(args.run_one[0]), Path(args.run_one[1]))
        return
    sources = sorted(EXAMPLES.glob("*.py"))
    unknown = set(args.names) - {s.stem for s in sources}
    if unknown:
        raise SystemExit(
            f"gallery: no example {', '.join(sorted(unknown))}; have {', '.join(s.stem for s in sources)}"
        )
    check_nav([s.stem for s in sources])
    GALLERY.mkdir(parents=True, exist_ok=True)
    write_plotly_js()
    manifests, total = [], time.perf_counter()
    for source in sources:
        selected = not args.names or source.stem in args.names
        if selected and (args.force or not up_to_date(source)):
            print(f"gallery: running {source.name} ...", flush=True)
            manifest = execute(source, args.threads)
            print(
                f"gallery: {source.name}: {len(manifest['figures'])} figure(s) in {manifest['seconds']:.1f} s",
                flush=True,
            )
        else:
            path = GALLERY / source.stem / "manifest.json"
            if not path.is_file():
                print(f"gallery: {source.name}: never run, left out of the pages", flush=True)
                continue
            manifest = json.loads(path.read_text(encoding="utf-8"))
            print(f"gallery: {source.name}: up to date", flush=True)
        (GALLERY / f"{source.stem}.md").write_text(page(manifest), encoding="utf-8")
        manifests.append(manifest)
    (GALLERY / "index.md").write_text(index(manifests), encoding="utf-8")
    print(f"gallery: {len(manifests)} example(s), {time.perf_counter() - total:.1f} s", flush=True)
    if not args.names:  # a full build: the notebooks too, executed for their outputs
        from notebooks_build import build as build_notebooks  # docs/, this script's folder

        build_notebooks([], args.force, args.threads)


if __name__ == "__main__":
    main()
