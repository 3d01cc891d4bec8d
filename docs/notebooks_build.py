"""Execute the notebooks for the docs, so the site shows their outputs.

``notebooks/*.ipynb`` are stored without outputs (CI runs them with nbmake); this runs each one
with nbclient into ``docs/gallery/notebooks/NAME.ipynb`` (a build artefact, git-ignored), which
``docs/hooks.py`` hands to mkdocs-jupyter instead of the bare source. As with the gallery, a
notebook whose executed copy is newer than its source is not rerun (``--force`` reruns it), and
a failing notebook fails the build. Offline: the kernel gets ``HF_HUB_OFFLINE=1``.

    python docs/notebooks_build.py [--force] [NAME ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
NOTEBOOKS = DOCS.parent / "notebooks"
EXECUTED = DOCS / "gallery" / "notebooks"
TIMEOUT_S = 900  # per cell, as `make test`'s --nbmake-timeout


def executed_path(source: Path) -> Path:
    return EXECUTED / source.name


def up_to_date(source: Path) -> bool:
    out = executed_path(source)
    return out.is_file() and out.stat().st_mtime >= source.stat().st_mtime


def execute(source: Path, threads: int) -> float:
    """Run ``source`` top to bottom in a fresh kernel (working folder: ``notebooks/``) and
    write the executed copy; returns the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the kernel inherits this environment
    os.environ.update(TQDM_DISABLE="1", OMP_NUM_THREADS=str(threads), PYTHONIOENCODING="utf-8")
    notebook = nbformat.read(source, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        notebook,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(source.parent)}},
    ).execute()
    EXECUTED.mkdir(parents=True, exist_ok=True)
    partial = executed_path(source).with_suffix(".partial")
    nbformat.write(notebook, partial)
    partial.replace(executed_path(source))  # never half a notebook under the real name
    return time.perf_counter() - start


def build(names: list[str], force: bool = False, threads: int = 1) -> list[Path]:
    """Execute the selected notebooks that are out of date; every executed copy's path."""
    sources = sorted(NOTEBOOKS.glob("*.ipynb"))
    unknown = set(names) - {s.stem for s in sources}
    if unknown:
        raise SystemExit(
            f"notebooks: no notebook {', '.join(sorted(unknown))}; "
            f"have {', '.join(s.stem for s in sources)}"
        )
    for source in sources:
        if (names and source.stem not in names) or (not force and up_to_date(source)):
            print(f"notebooks: {source.name}: up to date", flush=True)
            continue
        print(f"notebooks: running {source.name} ...", flush=True)
        try:
            seconds = execute(source, threads)
        except Exception as error:  # a cell's error, a timeout, a dead kernel
            raise SystemExit(f"notebooks: {source.name} failed: {error}") from None
        print(f"notebooks: {source.name} in {seconds:.1f} s", flush=True)
    return [executed_path(s) for s in sources if executed_path(s).is_file()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="only these notebooks (file stems)")
    parser.add_argument("--force", action="store_true", help="rerun up-to-date notebooks too")
    parser.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("MLSTEER_DOCS_THREADS", "1")),
        help="torch/OpenMP threads for the kernel (default 1, as the gallery)",
    )
    args = parser.parse_args()
    build(args.names, args.force, args.threads)


if __name__ == "__main__":
    sys.exit(main())
