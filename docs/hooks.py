"""MkDocs hooks (``hooks:`` in mkdocs.yml), run at every build:

- ``cli.md`` is generated from the typer app (``typer mlsteer.cli.app utils docs``), so the
  command-line reference can never drift from the code; nothing is written to ``docs/``;
- the notebooks in ``notebooks/`` (top of the repository, where CI runs them with nbmake) are
  added to the site as ``notebooks/*.ipynb``, rendered by mkdocs-jupyter without executing them:
  the executed copy from ``docs/gallery/notebooks/`` (``docs/notebooks_build.py``, run by
  ``make docs``) where it is up to date, so the pages show the outputs; else the bare source.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = ROOT / "docs" / "gallery" / "notebooks"  # docs/notebooks_build.py writes them here

CLI_INTRO = """\
<!-- Generated at build time by docs/hooks.py from the typer app; do not edit. -->

Every command takes `--model` (default `gemma-3-270m`) and `--device` (default `cpu`) where it
runs a model; `mlsteer COMMAND --help` prints the same text. The README's "Command line"
section has worked examples, and the [gallery](gallery/index.md) shows what the analyses draw.

"""


def cli_reference() -> str:
    """The typer app's markdown reference (the documented ``typer ... utils docs`` command)."""
    command = [
        sys.executable,
        "-m",
        "typer",
        "mlsteer.cli.app",
        "utils",
        "docs",
        "--name",
        "mlsteer",
        "--title",
        "Command line reference",
    ]
    done = subprocess.run(
        command, check=False, capture_output=True, text=True, encoding="utf-8", cwd=ROOT
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise PluginError(
            f"could not generate the CLI reference ({' '.join(command[1:])}):\n{done.stderr[-2000:]}"
        )
    title, _, body = done.stdout.strip().partition("\n")
    return f"{title}\n\n{CLI_INTRO}{body.strip()}\n"


@event_priority(100)  # before mkdocs-jupyter's on_files wraps the notebooks
def on_files(files: Files, config: MkDocsConfig) -> Files:
    files.append(File.generated(config, "cli.md", content=cli_reference()))
    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        executed = EXECUTED / notebook.name
        fresh = executed.is_file() and executed.stat().st_mtime >= notebook.stat().st_mtime
        files.append(
            File(
                f"notebooks/{notebook.name}",
                src_dir=str(EXECUTED.parent if fresh else ROOT),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )
    return files
