"""Static exports of a run's figures: ``RUN_DIR/exports/{name}.png`` and ``.svg`` via kaleido.

All images are written in one kaleido session (``plotly.io.write_images``, plotly >= 6.1 with
kaleido >= 1.0): Chrome starts once (~3 s) instead of once per image. When kaleido or a Chrome
it can drive is missing, nothing is raised: each image that could not be written is returned
with the reason, so the report still gets built.
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

EXPORTS = "exports"
FORMATS = ("png", "svg")
PNG_SCALE = 2  # crisp in slides and papers; SVG is resolution-free


def export_figures(
    figures: dict[str, go.Figure], out_dir: str | Path, formats: tuple[str, ...] = FORMATS
) -> tuple[list[Path], dict[str, str]]:
    """Write ``{name}.{fmt}`` for every figure into ``out_dir``.

    Returns ``(written, skipped)``: the paths written, and ``{path: reason}`` for each image
    that could not be written (kaleido missing, Chrome not found, an export that failed).
    """
    out_dir = Path(out_dir)
    specs = [
        (figure, out_dir / f"{name}.{fmt}", fmt)
        for name, figure in figures.items()
        for fmt in formats
    ]
    if not specs:
        return [], {}
    try:
        import kaleido  # noqa: F401  (plotly only says "kaleido is required" otherwise)
        import plotly.io as pio
    except ImportError as error:
        return [], {
            str(path): f"kaleido is not installed ({error}); pip install 'kaleido>=1'"
            for _, path, _ in specs
        }
    out_dir.mkdir(parents=True, exist_ok=True)
    for fmt in formats:  # a stale image from an earlier report must not pass for a new one
        for path in out_dir.glob(f"*.{fmt}"):
            path.unlink()
    reason = None
    try:
        figs = [figure for figure, _, _ in specs]
        paths = [path for _, path, _ in specs]
        widths = [figure.layout.width for figure in figs]
        heights = [figure.layout.height for figure in figs]
        scales = [PNG_SCALE if fmt == "png" else 1 for _, _, fmt in specs]
        if hasattr(pio, "write_images"):  # one Chrome for every image
            pio.write_images(
                figs,
                paths,
                format=[fmt for _, _, fmt in specs],
                width=widths,
                height=heights,
                scale=scales,
            )
        else:  # older plotly: one kaleido call per image
            for figure, path, fmt, width, height, scale in zip(
                figs, paths, [s[2] for s in specs], widths, heights, scales
            ):
                figure.write_image(path, format=fmt, width=width, height=height, scale=scale)
    except Exception as error:
        reason = _explain(error)
    written = [path for _, path, _ in specs if path.is_file() and path.stat().st_size > 0]
    skipped = {
        str(path): reason or "kaleido wrote nothing" for _, path, _ in specs if path not in written
    }
    return written, skipped


def _explain(error: Exception) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if "chrome" in text.lower() or type(error).__name__ == "ChromeNotFoundError":
        return (
            f"no Chrome/Chromium for kaleido ({type(error).__name__}: {text[:200]}); install one "
            "(apt-get install chromium, or plotly_get_chrome) or set BROWSER_PATH"
        )
    return f"{type(error).__name__}: {text[:300]}"
