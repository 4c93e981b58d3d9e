"""What the audit and the score job need to know about the SQL family: the database fields its rewards read."""

from __future__ import annotations

from rewardlab._probe import TaskField, register_task_fields

_DATABASE = [
    TaskField("db", "the database file (a path, under db_root when relative)", param="db_field", required=True),
    TaskField("db_id", "the database's name under db_root (Spider, BIRD)", param="db_id_field", required=True),
]

register_task_fields(("sql", "sql_partial_match"), _DATABASE)
# the schema linker reads the database when there is one and otherwise the query alone
register_task_fields(("sql_schema_link",), [TaskField(f.name, f.description, param=f.param) for f in _DATABASE])
register_task_fields(("sql_syntax", "sql_ngram"), [])
