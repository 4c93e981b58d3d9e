"""What the audit and the score job need to know about the SQL family: the database fields its rewards read."""

from __future__ import annotations

from rewardlab._probe import TaskField, register_task_fields

_DATABASE = [
    TaskField("db", "the database file (a path, under db_root when relative)", param="db_field"),
    TaskField("db_id", "the database's name under db_root (Spider, BIRD)", param="db_id_field"),
]

register_task_fields(("sql", "sql_partial_match", "sql_schema_link"), _DATABASE)
register_task_fields(("sql_syntax", "sql_ngram"), [])
