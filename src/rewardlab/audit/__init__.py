"""Audit rewards before training: attack probes, gold self-check, labelled error rates, signal.

Two verbs: `audit` measures one reward on a data set and returns an
`AuditReport` (JSON document, HTML report, ``--fail-on`` verdict); `diff`
shows where two rewards disagree. Probes are pluggable: `register_probe` (or
the `probe` decorator) adds one, for every reward or for named rewards, and
`register_gold_renderer` says how a reference is written as a full-credit answer,
`register_task_fields` which row fields a reward reads. Reward families register
theirs through the ``rewardlab.probes`` entry-point group; nothing here names one.
"""

from rewardlab.audit._audit import AUDIT_METRICS, AuditReport, audit, parse_fail_rules
from rewardlab.audit._data import AuditData, AuditFields, load_audit_data, split_reference
from rewardlab.audit._diff import DiffReport, diff
from rewardlab.audit._probes import (
    MASTER_KEYS,
    Probe,
    ProbeInput,
    TaskField,
    list_probes,
    probe,
    register_gold_renderer,
    register_probe,
    register_task_fields,
    render_gold,
    task_fields,
)
from rewardlab.audit._rules import FailRule, RuleError, RuleOutcome

__all__ = [
    "AUDIT_METRICS",
    "MASTER_KEYS",
    "AuditData",
    "AuditFields",
    "AuditReport",
    "DiffReport",
    "FailRule",
    "Probe",
    "ProbeInput",
    "RuleError",
    "RuleOutcome",
    "TaskField",
    "audit",
    "diff",
    "list_probes",
    "load_audit_data",
    "parse_fail_rules",
    "probe",
    "register_gold_renderer",
    "register_probe",
    "register_task_fields",
    "render_gold",
    "split_reference",
    "task_fields",
]
