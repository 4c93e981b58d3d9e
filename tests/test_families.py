"""Families own their knowledge: each is a subpackage that registers its rewards, probes, gold-answer
writer and task fields, and the audit names none of them."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

import rewardlab
from rewardlab._registry import lookup
from rewardlab.audit import TaskField, audit, list_probes, register_task_fields, render_gold, task_fields

ROOT = Path(__file__).resolve().parent.parent
REWARDS_DIR = ROOT / "src" / "rewardlab" / "rewards"
AUDIT_DIR = ROOT / "src" / "rewardlab" / "audit"
ENTRY_POINTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]

FAMILIES = sorted(p.name for p in REWARDS_DIR.iterdir() if (p / "__init__.py").is_file())
"""Every family subpackage of rewardlab.rewards."""

FAMILY_REWARDS = {
    name: value.split(".")[2]
    for name, value in ENTRY_POINTS["rewardlab.rewards"].items()
    if value.startswith("rewardlab.rewards.")
}
"""Built-in reward name -> the family subpackage its entry point names."""

ORDINARY_WORDS = {"math", "code", "text", "format", "length", "contains", "judge", "rubric", "principles"}
ORDINARY_WORDS |= {"repetition", "embedding", "rouge"}
"""Family and reward names that are also plain words: in prose they count only as '<name> family' or as
a whole string literal, so that 'text after the last marker' is not a mention of the text family."""


def test_every_builtin_reward_lives_in_a_family_subpackage() -> None:
    flat = [v for v in ENTRY_POINTS["rewardlab.rewards"].values() if v.startswith("rewardlab.rewards._")]
    assert flat == []
    assert set(FAMILY_REWARDS.values()) == set(FAMILIES)
    for family in FAMILIES:
        assert ENTRY_POINTS["rewardlab.probes"].get(family) == f"rewardlab.rewards.{family}._audit", family
        assert (REWARDS_DIR / family / "_audit.py").is_file()
    for name, family in FAMILY_REWARDS.items():
        assert ENTRY_POINTS["rewardlab.task_fields"].get(name) == f"rewardlab.rewards.{family}._audit", name


def test_one_rewards_task_fields_import_its_family_only() -> None:
    import subprocess

    code = (
        "import sys, rewardlab; print(rewardlab.load('sql', db_field='d').task_fields);"
        "print(sorted(m for m in sys.modules if m.endswith('._audit')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["('d', 'db_id')", "['rewardlab.rewards.sql._audit']"]


@pytest.mark.parametrize("reward_name", sorted(FAMILY_REWARDS))
def test_every_family_reward_declares_its_task_fields(reward_name: str) -> None:
    from rewardlab._probe import FIELDS, declared_task_fields

    declared_task_fields(reward_name)  # loads the family modules
    assert FIELDS.find(reward_name) is not None, f"{reward_name}: its family registers no task fields for it"


def test_task_fields_follow_the_parameters_that_rename_them() -> None:
    assert rewardlab.load("sql").task_fields == ("db", "db_id")
    assert rewardlab.load("sql", db_field="database").task_fields == ("database", "db_id")
    assert rewardlab.load("tool_call").task_fields == ("tools",)
    assert rewardlab.load("ifeval", kwargs_field="args").task_fields == ("instruction_id_list", "args")
    assert rewardlab.load("length").task_fields == ()
    assert rewardlab.load("length", length_field="n_tokens").task_fields == ("n_tokens",)
    assert rewardlab.load("overlong", length_field=None).task_fields == ()
    assert rewardlab.load("exact_match").task_fields == ()
    assert "tests" in rewardlab.load("code").task_fields


def test_composites_read_their_childrens_fields_and_a_route_its_own() -> None:
    from rewardlab.compose import route, weighted_sum

    both = weighted_sum("tool_call", rewardlab.load("sql", db_field="database"))
    assert both.task_fields == ("tools", "database", "db_id")
    routed = route("task", {"sql": "sql", "qa": "qa_f1"})
    assert routed.task_fields == ("task", "db", "db_id")


def test_a_third_party_reward_registers_its_task_fields() -> None:
    register_task_fields(["_families_test_reward"], [TaskField("schema", "a schema", param="schema_field")])
    assert task_fields("_families_test_reward") == ("schema",)
    assert task_fields("_families_test_reward", {"schema_field": "s2"}) == ("s2",)
    assert task_fields("_no_such_reward") == ()


def test_audit_probes_rows_apart_by_the_fields_the_reward_reads() -> None:
    """Two rows with the same prompt and reference but another database are two tasks: both are probed.
    The field is found through the reward's renamed parameter, which no list in the audit could know."""
    from rewardlab import reward
    from rewardlab._types import Sample

    @reward(name="_families_db_reward", register=False)
    def db_reward(sample: Sample, *, db_field: str = "db") -> float:
        return 0.0

    register_task_fields(["_families_db_reward"], [TaskField("db", "a database", param="db_field")])
    rows = [
        {"prompt": "q", "reference": "a", "warehouse": "one.sqlite"},
        {"prompt": "q", "reference": "a", "warehouse": "two.sqlite"},
    ]
    apart = audit(db_reward(db_field="warehouse"), rows, probes=["empty"], in_process=True).probe("empty")
    together = audit(db_reward(), rows, probes=["empty"], in_process=True).probe("empty")
    assert together["n"] > 0
    assert apart["n"] == 2 * together["n"]


def test_moved_families_keep_their_probes_and_gold_writers() -> None:
    by_name = {p.name: p for p in list_probes()}
    assert by_name["call_spray"].rewards == ("tool_call",)
    assert set(by_name["reference_shuffle"].rewards or ()) == {"bleu", "chrf", "ter", "rouge", "embedding_similarity"}
    assert by_name["answer_spray"].rewards == ("qa_f1", "qa_em")
    assert by_name["keyword_stuffing"].rewards == ("ifeval",)
    assert by_name["click_spray"].rewards == ("gui_point", "gui_box")
    assert render_gold("gui_point", "[10, 20, 30, 40]") == "click(20, 30)"
    assert render_gold("qa_em", "Paris").endswith("<answer>Paris</answer>")


# -- the audit names no family ---------------------------------------------------------


def _family_mentions(path: Path) -> list[str]:
    names = set(FAMILIES) | set(FAMILY_REWARDS)
    distinctive = names - ORDINARY_WORDS
    tree = ast.parse(path.read_text(), filename=str(path))
    # a generic probe's own name (the "repetition" probe) is the audit's word, not a family's
    probe_names = {
        id(node.args[0])
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "probe" and node.args
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""] if node.level == 0 else []
        else:
            modules = []
        for module in modules:
            if module == "rewardlab.rewards" or module.startswith("rewardlab.rewards."):
                found.append(f"line {node.lineno}: imports {module}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            where = f"line {node.lineno}"
            if text.strip() in names and id(node) not in probe_names:
                found.append(f"{where}: the string {text.strip()!r}")
            if re.search(r"rewardlab[./]rewards[./]", text):
                found.append(f"{where}: a path into rewardlab.rewards")
            for token in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text):
                if token in distinctive:
                    found.append(f"{where}: names {token!r}")
            for name in names:
                if re.search(rf"\b{re.escape(name)}\s+family\b", text, re.IGNORECASE):
                    found.append(f"{where}: '{name} family'")
    return found


def test_the_check_sees_a_family_mention(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        '"""Probes of the math family."""\n'
        "from rewardlab.rewards.sql import _audit\n"
        'REWARDS = ("code",)\n'
        'NOTE = "see rewardlab/rewards/gui/_audit.py"\n'
        'HINT = "a tool_call probe"\n'
        '@probe("repetition", "a generic probe may share a reward\'s name")\n'
        "def _repeat(row): ...\n"
    )
    found = _family_mentions(bad)
    assert {f.split(":")[0] for f in found} == {f"line {n}" for n in range(1, 6)}, found
    fine = tmp_path / "fine.py"
    fine.write_text('"""The text after the last marker, in a given format."""\nimport math\nX = "code point"\n')
    assert _family_mentions(fine) == []


@pytest.mark.parametrize("path", sorted(AUDIT_DIR.rglob("*.py")), ids=lambda p: p.name)
def test_no_audit_module_names_a_family(path: Path) -> None:
    assert _family_mentions(path) == []


# -- required task fields: the declaration is what the reward does ------------------------

REQUIRING = ["sql", "sql_partial_match", "code", "ifeval"]


def test_rewards_that_require_fields_are_the_declared_ones() -> None:
    bare = {"completion": "x", "reference": "x"}
    requiring = sorted(n for n in FAMILY_REWARDS if lookup(n).unmet_task_fields(bare))
    assert requiring == sorted(REQUIRING)


@pytest.mark.parametrize("name", REQUIRING)
def test_a_row_without_any_required_field_abstains_and_one_with_it_is_not_unmet(name: str) -> None:
    reward = rewardlab.load(name)
    row = {"completion": "SELECT 1", "reference": "SELECT 1"}
    unmet = reward.unmet_task_fields(row)[name]
    assert reward.score([row])[0].status.value == "abstain"
    assert reward.unmet_task_fields({**row, unmet[0][0]: "anything"}) == {}


def test_score_says_when_the_first_row_lacks_what_the_reward_reads(tmp_path: Path) -> None:
    import subprocess

    src = tmp_path / "in.jsonl"
    src.write_text('{"completion": "SELECT 1", "reference": "SELECT 1", "database": "x.sqlite"}\n')

    def score(out: str, *args: str) -> str:
        cmd = [sys.executable, "-m", "rewardlab.cli", "score", str(src), "-o", str(tmp_path / out), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stderr

    noted = score("a.jsonl", "-r", "sql")
    assert f"{src}:1: reward 'sql' reads 'db' (parameter db_field) or 'db_id'" in noted
    assert "abstain 1" in noted
    assert "note:" not in score("b.jsonl", "-r", "sql", "-p", "db_field=database")
    assert "note:" not in score("c.jsonl", "-r", "exact_match")
