"""Built-in reward families. Each registers itself by name; load them with `rewardlab.load`.

Each family is a subpackage (``math``, ``code``, ``sql``, ``text``, ``format``, ``judge``,
``tool_call``, ``reference_text``, ``embedding``, ``ifeval``, ``qa``, ``gui``) whose
``_audit`` module registers what the rest of the package needs to know about it:
attack probes, gold-answer writers and the task fields its rewards read.

Heavy families (math, code, SQL) are imported on first use through the registry; what is
exported here is cheap to import. `extract_final_answer` and `hedge_reason` are the
final-answer policy the math reward, the audit's probes and judges share;
`parse_tool_calls`, `parse_coordinates` and `squad_normalize`/`token_f1` are the
readers of the tool-call, GUI and QA rewards. Optional families (text metrics,
tool schemas, IFEval, embeddings) import their libraries only when they score.
"""

from rewardlab.rewards.format._format import format_reward, overlong
from rewardlab.rewards.gui._gui import parse_coordinates
from rewardlab.rewards.math._answer import FinalAnswer, extract_final_answer, hedge_reason
from rewardlab.rewards.qa._qa import squad_normalize, token_f1
from rewardlab.rewards.text._text import contains, exact_match, length, normalize_text, repetition
from rewardlab.rewards.tool_call._tool_parse import ToolCall, parse_tool_calls

__all__ = [
    "FinalAnswer",
    "ToolCall",
    "contains",
    "exact_match",
    "extract_final_answer",
    "format_reward",
    "hedge_reason",
    "length",
    "normalize_text",
    "overlong",
    "parse_coordinates",
    "parse_tool_calls",
    "repetition",
    "squad_normalize",
    "token_f1",
]
