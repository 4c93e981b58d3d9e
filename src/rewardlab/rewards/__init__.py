"""Built-in reward families. Each registers itself by name; load them with `rewardlab.load`."""

from rewardlab.rewards._format import format_reward, overlong
from rewardlab.rewards._text import contains, exact_match, length, normalize_text, repetition

__all__ = ["contains", "exact_match", "format_reward", "length", "normalize_text", "overlong", "repetition"]
