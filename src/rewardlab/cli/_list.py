"""``rewardlab list``: the registered rewards."""

from __future__ import annotations

import inspect

import typer
from rich.console import Console
from rich.table import Table

from rewardlab._registry import list_rewards
from rewardlab._reward import FunctionReward, format_param


def list_command(json_output: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Show every registered reward with its parameters, the row fields it reads and a one-line description."""
    rewards = list_rewards()
    if json_output:
        import orjson

        data = [
            {
                "name": r.name,
                "description": r.description,
                "range": list(r.range),
                "params": dict(r.params),
                "task_fields": list(r.task_fields),
            }
            for r in rewards
        ]
        typer.echo(orjson.dumps(data, default=str, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table(title="rewardlab rewards", show_lines=False)
    table.add_column("name", style="bold")
    table.add_column("range")
    table.add_column("parameters (default)")
    table.add_column("task fields")
    table.add_column("description")
    for r in rewards:
        if isinstance(r, FunctionReward):
            params = ", ".join(
                f"{p.name}={'<required>' if p.default is inspect.Parameter.empty else format_param(p.default)}"
                for p in r.declared.values()
            )
        else:
            params = ", ".join(f"{k}={format_param(v)}" for k, v in r.params.items())
        lo, hi = r.range
        table.add_row(r.name, f"[{lo:g}, {hi:g}]", params, ", ".join(r.task_fields), r.description)
    Console().print(table)
