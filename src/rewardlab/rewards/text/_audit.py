"""What the audit and the score job need to know about the text family: the length field `length` may read."""

from __future__ import annotations

from rewardlab._probe import TaskField, register_task_fields

register_task_fields(("exact_match", "contains", "repetition"), [])
register_task_fields(("length",), [TaskField(None, "a precomputed length of the completion", param="length_field")])
