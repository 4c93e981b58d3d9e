"""What audit and diff reports share: a JSON document, checked rules, JSON and HTML output."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardlab.audit._rules import RuleOutcome


@dataclass
class ReportDocument:
    """A report as plain data plus the rules checked against it."""

    document: dict[str, Any]
    outcomes: list[RuleOutcome] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no rule failed."""
        return not any(o.failed for o in self.outcomes)

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.document, indent=indent, ensure_ascii=False, allow_nan=False, default=str)

    def write_json(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    def render_html(self) -> str:
        raise NotImplementedError

    def write_html(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(self.render_html(), encoding="utf-8")
