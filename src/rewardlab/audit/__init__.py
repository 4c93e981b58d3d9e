"""Audit rewards before training: attack probes, gold self-check, labelled error rates, signal.

Two verbs: `audit` measures one reward on a data set and returns an
`AuditReport` (JSON document, HTML report, ``--fail-on`` verdict); `diff`
shows where two rewards disagree. Probes are pluggable: `register_probe` (or
the `probe` decorator) adds one, for every reward or for named rewards, and
`register_gold_renderer` says how a reference is written as a full-credit answer.
"""

from rewardlab.audit._audit import AUDIT_METRICS, AuditReport, audit, parse_fail_rules
from rewardlab.audit._data import AuditData, AuditFields, load_audit_data, split_reference
from rewardlab.audit._diff import DiffReport, diff
from rewardlab.audit._probes import (
    MASTER_KEYS,
    Probe,
    ProbeInput,
    list_probes,
    probe,
    register_gold_renderer,
    register_probe,
    render_gold,
)
from rewardlab.audit._rules import FailRule, RuleError, RuleOutcome

# Registers the probes and gold renderings of the tool-call, text, IFEval, QA and GUI families.
from rewardlab.audit import _family_probes  # noqa: E402,F401  isort: skip

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
    "audit",
    "diff",
    "list_probes",
    "load_audit_data",
    "parse_fail_rules",
    "probe",
    "register_gold_renderer",
    "register_probe",
    "render_gold",
    "split_reference",
]
