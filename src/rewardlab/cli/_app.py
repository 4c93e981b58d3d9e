"""Command registry: each command lives in its own module and is added here."""

from __future__ import annotations

import os

import typer

from rewardlab._version import __version__
from rewardlab.cli._advantages import advantages
from rewardlab.cli._audit import audit_command, diff_command
from rewardlab.cli._bench import bench_command, select_command
from rewardlab.cli._check import check
from rewardlab.cli._common import import_plugins
from rewardlab.cli._list import list_command
from rewardlab.cli._score import score
from rewardlab.cli._serve import serve
from rewardlab.cli._train_rm import train_rm

app = typer.Typer(
    name="rewardlab",
    help="The reward layer for LLM post-training: score, compose and audit rewards, and hand them to trainers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("score")(score)
app.command("list")(list_command)
app.command("audit")(audit_command)
app.command("diff")(diff_command)
app.command("check")(check)
app.command("advantages")(advantages)
app.command("serve")(serve)
app.command("bench")(bench_command)
app.command("select")(select_command)
app.command("train-rm")(train_rm)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rewardlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
    imports: list[str] = typer.Option(
        None,
        "--import",
        "-I",
        help="Module or .py file that registers rewards (repeatable); also $REWARDLAB_IMPORT, comma-separated.",
    ),
) -> None:
    """rewardlab command line."""
    import_plugins([*(imports or []), *filter(None, os.environ.get("REWARDLAB_IMPORT", "").split(","))])


def main() -> None:
    app()
