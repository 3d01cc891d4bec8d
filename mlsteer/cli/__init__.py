"""The ``mlsteer`` command line."""

from mlsteer.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
