"""``mlsteer report``: one offline HTML page per run, PNG/SVG exports, checked in headless Chromium."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs
from typer.testing import CliRunner

from mlsteer.cli import app
from mlsteer.errors import MlsteerError
from mlsteer.evaluation.store import ResultRow, ResultStore
from mlsteer.plots.io import save_figure
from mlsteer.report import build_report

runner = CliRunner()
FIGURES = ("similarity", "lens_es", "sweep_alpha")
BROWSER = (
    shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
)


def make_run(run_dir: Path) -> Path:
    layers = list(range(4))
    save_figure(
        go.Figure(go.Bar(x=["basic", "steer"], y=[0.4, 0.6]), layout_title_text="sweep"),
        run_dir,
        "sweep_alpha",
    )
    save_figure(
        go.Figure(
            go.Heatmap(z=[[1.0, 0.5, 0.2, 0.1], [0.9, 0.7, 0.3, 0.2]], x=layers, y=["es", "sw"])
        ),
        run_dir,
        "similarity",
    )
    save_figure(
        go.Figure(go.Scatter(x=layers, y=[0.1, 0.3, 0.6, 0.8], mode="lines+markers")),
        run_dir / "lens",
        "lens_es",
    )
    store = ResultStore(run_dir)
    store.add(
        ResultRow(
            "tiny",
            "xnli",
            lang,
            method,
            str(i),
            "a",
            "a" if (i + j) % 3 else "b",
            bool((i + j) % 3),
        )
        for j, method in enumerate(("basic", "meandiff"))
        for lang in ("es", "sw")
        for i in range(6)
    )
    store.close()
    store = ResultStore(run_dir / "sweep")
    store.add([ResultRow("tiny", "mgsm", "sw", "basic", "0", "1", "1", True)])
    store.close()
    (run_dir / "summary.md").write_text(
        "# Run notes\n\nSteering helps **Swahili**.\n", encoding="utf-8"
    )
    (run_dir / "sweep").mkdir(exist_ok=True)
    (run_dir / "sweep" / "sweep_xnli.md").write_text(
        "| lang | layer |\n|---|---|\n| sw | 6 |\n", encoding="utf-8"
    )
    (run_dir / "table.md").write_text(
        "| skipped | table |\n|---|---|\n| x | y |\n", encoding="utf-8"
    )
    return run_dir


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, str]:
    run_dir = make_run(tmp_path_factory.mktemp("run"))
    paths = build_report(run_dir, exports=False)
    assert paths.html == run_dir / "report.html" and paths.exports == [] and paths.skipped == {}
    assert sorted(paths.figures) == sorted(FIGURES) and paths.tables == 2
    return paths.html, paths.html.read_text(encoding="utf-8")


def test_report_holds_every_figure_table_and_summary(report):
    path, page = report
    for name in FIGURES:
        assert f'<div id="plot-{name}" class="plotly-graph-div"' in page
        assert f'<h3 id="fig-{name}">{name}' in page and f'href="#fig-{name}"' in page
    assert page.count("Plotly.newPlot(") == len(FIGURES)
    assert (
        page.count("<table>") == 3 + 2  # and each store's table of n per cell
        and "<td>meandiff</td>" in page
        and "xnli" in page
        and "mgsm" in page
    )
    assert "sweep/results.sqlite" in page
    assert (
        '<h3 id="note-sweep-sweep_xnli-md">sweep/sweep_xnli.md</h3>' in page
        and "<th>skipped</th>" not in page
    )  # table.md repeats the stores
    # summary first, then tables, then figures grouped by kind (similarity, lens, sweep)
    order = [
        page.index(marker)
        for marker in (
            '<section id="summary">',
            '<section id="analyses">',
            '<section id="tables">',
            '<section id="group-similarity">',
            '<section id="group-lens">',
            '<section id="group-sweep">',
        )
    ]
    assert order == sorted(order)
    assert "<strong>Swahili</strong>" in page
    assert "<title>mlsteer report" in page and 'id="mlsteer-js-errors"' in page
    assert "mlsteer 0.1.0" in page and str(path.parent.resolve()) in page


def test_report_is_offline_with_plotlyjs_inlined_once(report):
    _, page = report
    plotlyjs = get_plotlyjs()
    assert page.count(plotlyjs) == 1
    rest = page.replace(plotlyjs, "")  # plotly.js itself names map-tile URLs it never fetches here
    assert "https://cdn" not in rest and "<script src" not in rest.lower()
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", rest)


def test_empty_run_folder_is_a_clear_error(tmp_path):
    with pytest.raises(
        MlsteerError, match=r"nothing to report.*mlsteer eval.*similarity.*lens.*sweep.*transfer"
    ) as info:
        build_report(tmp_path)
    assert str(tmp_path) in str(info.value)
    with pytest.raises(MlsteerError, match="is not a folder"):
        build_report(tmp_path / "missing")


def test_exports_write_png_and_svg(tmp_path):
    run_dir = make_run(tmp_path)
    paths = build_report(run_dir, out=tmp_path / "elsewhere" / "r.html")
    if paths.skipped and any("chrome" in reason.lower() for reason in paths.skipped.values()):
        pytest.skip(f"kaleido cannot find Chrome: {next(iter(paths.skipped.values()))}")
    assert paths.skipped == {}
    assert sorted(p.name for p in paths.exports) == sorted(
        f"{n}.{f}" for n in FIGURES for f in ("png", "svg")
    )
    for name in FIGURES:
        png, svg = run_dir / "exports" / f"{name}.png", run_dir / "exports" / f"{name}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
        assert b"<svg" in svg.read_bytes()[:500]
    page = paths.html.read_text(encoding="utf-8")
    assert 'href="../exports/similarity.png"' in page and 'href="../exports/similarity.svg"' in page


def test_exports_failing_do_not_cost_the_report(tmp_path, monkeypatch):
    import plotly.io as pio

    def no_chrome(*args, **kwargs):
        raise RuntimeError("Kaleido requires Google Chrome to be installed.")

    monkeypatch.setattr(pio, "write_images", no_chrome)
    monkeypatch.setattr(go.Figure, "write_image", no_chrome)
    run_dir = make_run(tmp_path)
    paths = build_report(run_dir)
    assert paths.html.is_file() and paths.exports == []
    assert len(paths.skipped) == 2 * len(FIGURES) and all(
        "Chrome" in r for r in paths.skipped.values()
    )
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert (
        "warning: 6 export(s) not written" in " ".join(result.output.split())
        and "Chrome" in result.output
    )


def test_cli_report(tmp_path):
    run_dir = make_run(tmp_path / "run")
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(run_dir), "--no-exports", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and not (run_dir / "exports").exists()
    assert "r.html" in result.output.replace("\n", "")
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["report", str(empty)])
    assert result.exit_code == 2 and "nothing to report" in " ".join(result.output.split())


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess:
    command = [
        BROWSER,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={tmp / 'profile'}",
        "--virtual-time-budget=10000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def _more_than_one_colour(png: bytes) -> bool:
    """Whether a PNG shows more than one colour: exact with Pillow, else a zlib heuristic.

    Without Pillow: a single-colour image, whatever PNG row filters the encoder chose, decodes
    to a handful of distinct byte values (filter types, the colour's channels, zero deltas);
    a rendered page with anti-aliased text and plots uses far more.
    """
    try:
        import io

        from PIL import Image
    except ImportError:
        data, pos = b"", 8
        while pos < len(png):
            length, kind = struct.unpack(">I4s", png[pos : pos + 8])
            if kind == b"IDAT":
                data += png[pos + 8 : pos + 8 + length]
            pos += 12 + length
        return len(set(zlib.decompress(data))) > 16
    return Image.open(io.BytesIO(png)).getcolors(maxcolors=1) is None


@pytest.mark.skipif(BROWSER is None, reason="chromium not installed: apt-get install chromium")
def test_report_renders_in_headless_chromium(report, tmp_path):
    path, _ = report
    dom = _chromium("--dump-dom", path.resolve().as_uri(), tmp=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('class="main-svg"') >= len(FIGURES), (
        "plotly drew no SVG for some figure"
    )
    for name in FIGURES:
        assert re.search(rf'<div id="plot-{name}" class="[^"]*js-plotly-plot', dom.stdout), (
            f"{name} not plotted"
        )
    errors = re.search(r'<pre id="mlsteer-js-errors"[^>]*>(.*?)</pre>', dom.stdout, re.S)
    assert errors is not None and errors.group(1).strip() == "", (
        f"JavaScript errors: {errors and errors.group(1)}"
    )

    shot = tmp_path / "report.png"
    result = _chromium(
        f"--screenshot={shot}", "--window-size=1280,2000", path.resolve().as_uri(), tmp=tmp_path
    )
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert _more_than_one_colour(png), "the screenshot is a single colour"


@pytest.mark.skipif(BROWSER is None, reason="chromium not installed: apt-get install chromium")
def test_js_error_recorder_catches_errors(report, tmp_path):
    """The check above is only worth something if a broken page does fill #mlsteer-js-errors."""
    _, page = report
    broken = tmp_path / "broken.html"
    broken.write_text(
        page.replace(
            "</main>", "<script>console.error('bad thing'); undefinedFunction();</script></main>"
        ),
        encoding="utf-8",
    )
    dom = _chromium("--dump-dom", broken.as_uri(), tmp=tmp_path)
    errors = re.search(r'<pre id="mlsteer-js-errors"[^>]*>(.*?)</pre>', dom.stdout, re.S)
    assert (
        errors is not None
        and "bad thing" in errors.group(1)
        and "undefinedFunction" in errors.group(1)
    )


def test_same_figure_name_in_two_folders_keeps_both(tmp_path):
    from mlsteer.plots.io import load_figures

    for folder in ("lens", "lens_sft"):
        save_figure(go.Figure(go.Bar(x=[1], y=[1])), tmp_path / folder, "lens_sw")
    save_figure(go.Figure(go.Bar(x=[1], y=[2])), tmp_path, "lens_sw")
    assert sorted(load_figures(tmp_path)) == ["lens-lens_sw", "lens_sft-lens_sw", "lens_sw"]
