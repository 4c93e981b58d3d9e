"""Throughput of the tool-call, reference-text, IFEval, QA and GUI rewards against the plain library call.

For each family, the same generated rows are scored in the same run by:

* ``rewardlab``: ``rewardlab.load(name).score(batch)`` in the calling process, the
  path a trainer's reward function takes (parsing, caps, statuses, signatures);
* ``peer``: the call a training script makes without rewardlab: ``sacrebleu.sentence_bleu``
  / ``sentence_chrf`` / ``sentence_ter``, ``RougeScorer.score_multi``, sentence-transformers
  ``encode`` + dot product, lm-eval's ``test_instruction_following_strict``, the SQuAD
  script's F1 after an ``<answer>`` regex, ``json.loads`` + ``jsonschema.validate`` + equality
  for tool calls, and a regex + Gaussian for GUI clicks.

Where the peer computes the same number (bleu, chrf, ter, rouge, embedding, ifeval) the
values are checked to agree. Prints a Markdown table of medians over ``--repeat`` runs.

    python benchmarks/bench_families.py --rows 2000           # --repeat 3 by default
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import platform
import random
import re
import statistics
import string
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rewardlab
from rewardlab import Sample

WORDS = (
    "river delta silt flood plain mountain sea water stone valley rain cloud storm bridge city market road "
    "field harvest winter summer light shadow quiet rapid ancient modern people travel across through under"
).split()


def sentence(rnd: random.Random, n: int) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(n)).capitalize() + "."


def mutate(rnd: random.Random, text: str) -> str:
    words = text.rstrip(".").split()
    for _ in range(rnd.randint(0, 4)):
        i = rnd.randrange(len(words))
        words[i] = rnd.choice(WORDS)
    return " ".join(words) + "."


# -- rows per family -------------------------------------------------------------------


def text_rows(rnd: random.Random, n: int) -> list[Sample]:
    rows = []
    for _ in range(n):
        refs = [sentence(rnd, rnd.randint(8, 25)) for _ in range(rnd.randint(1, 2))]
        rows.append(Sample(completion=mutate(rnd, refs[0]), reference=refs))
    return rows


TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {
        "query": {"type": "string"}}, "required": ["query"]}}},
]  # fmt: skip


def tool_rows(rnd: random.Random, n: int) -> list[Sample]:
    rows = []
    for _ in range(n):
        ref = [{"name": "get_weather", "arguments": {"city": rnd.choice(WORDS), "days": rnd.randint(1, 7)}}]
        if rnd.random() < 0.5:
            ref.append({"name": "search", "arguments": {"query": sentence(rnd, 4)}})
        pred = json.loads(json.dumps(ref))
        if rnd.random() < 0.4:
            pred[0]["arguments"]["days"] = rnd.randint(1, 7)
        text = "".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in pred)
        rows.append(Sample(completion=text, reference=ref, extras={"tools": TOOLS}))
    return rows


def qa_rows(rnd: random.Random, n: int) -> list[Sample]:
    rows = []
    for _ in range(n):
        gold = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 3)))
        answer = gold if rnd.random() < 0.5 else " ".join(rnd.choice(WORDS) for _ in range(2))
        rows.append(Sample(completion=f"<think>{sentence(rnd, 30)}</think><answer>{answer}</answer>", reference=[gold]))
    return rows


def gui_rows(rnd: random.Random, n: int) -> list[Sample]:
    rows = []
    for _ in range(n):
        x1, y1 = rnd.uniform(0, 1700), rnd.uniform(0, 1000)
        box = [round(x1), round(y1), round(x1 + rnd.uniform(20, 200)), round(y1 + rnd.uniform(10, 60))]
        x = min(1920.0, max(0.0, rnd.uniform(box[0] - 50, box[2] + 50)))
        y = min(1080.0, max(0.0, rnd.uniform(box[1] - 20, box[3] + 20)))
        rows.append(Sample(completion=f"click({x:.1f}, {y:.1f})", reference=box, extras={"image_size": [1920, 1080]}))
    return rows


IFEVAL_SPECS: list[tuple[list[str], list[dict[str, Any]]]] = [
    (["punctuation:no_comma", "change_case:english_lowercase"], [{}, {}]),
    (
        ["keywords:existence", "length_constraints:number_words"],
        [{"keywords": ["silt"]}, {"num_words": 20, "relation": "at least"}],
    ),
    (["length_constraints:number_sentences"], [{"num_sentences": 3, "relation": "less than"}]),
    (
        ["detectable_format:number_bullet_lists", "keywords:forbidden_words"],
        [{"num_bullets": 2}, {"forbidden_words": ["storm"]}],
    ),
    (["detectable_format:title", "startend:end_checker"], [{}, {"end_phrase": "Any other questions?"}]),
    (
        ["keywords:frequency", "detectable_content:postscript"],
        [{"keyword": "water", "frequency": 2, "relation": "at least"}, {"postscript_marker": "P.S."}],
    ),
]


def ifeval_rows(rnd: random.Random, n: int) -> list[Sample]:
    rows = []
    for _ in range(n):
        ids, kwargs = rnd.choice(IFEVAL_SPECS)
        body = " ".join(sentence(rnd, rnd.randint(5, 15)) for _ in range(rnd.randint(1, 5)))
        if rnd.random() < 0.5:
            body = body.lower().replace(",", "")
        if rnd.random() < 0.3:
            body = "<<Title>>\n* one\n* two\n" + body + "\nP.S. Any other questions?"
        rows.append(
            Sample(completion=body, prompt="Write about rivers.", extras={"instruction_id_list": ids, "kwargs": kwargs})
        )
    return rows


def punkt_model(root: Path) -> None:
    """A small English Punkt model in NLTK's layout (no NLTK data is installed here)."""
    import nltk

    model = root / "tokenizers" / "punkt_tab" / "english"
    model.mkdir(parents=True)
    for name, text in {
        "abbrev_types.txt": "dr\nmr\n",
        "collocations.tab": "",
        "sent_starters.txt": "",
        "ortho_context.tab": "",
    }.items():
        (model / name).write_text(text, encoding="utf-8")
    nltk.data.path.insert(0, str(root))


# -- peers ---------------------------------------------------------------------------------


def peer_sacrebleu(kind: str) -> Callable[[list[Sample]], list[float]]:
    import sacrebleu

    fn = {"bleu": sacrebleu.sentence_bleu, "chrf": sacrebleu.sentence_chrf, "ter": sacrebleu.sentence_ter}[kind]

    def run(rows: list[Sample]) -> list[float]:
        return [fn(r.completion_text, list(r.reference)).score for r in rows]

    return run


def peer_rouge(rows: list[Sample]) -> list[float]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    return [scorer.score_multi(list(r.reference), r.completion_text)["rougeL"].fmeasure for r in rows]


@functools.cache
def peer_embedding_model() -> Any:
    from rewardlab.rewards.embedding._embedding import load_embedding_model

    return load_embedding_model()


def peer_embedding(rows: list[Sample]) -> list[float]:
    model = peer_embedding_model()  # loaded by the warm-up call, as the reward's own: loading is not timed
    texts, spans = [], []
    for r in rows:
        spans.append((len(texts), len(r.reference)))
        texts += [r.completion_text, *r.reference]
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    return [max(float(vectors[i] @ vectors[i + 1 + k]) for k in range(n)) for i, n in spans]


def peer_ifeval(rows: list[Sample]) -> list[float]:
    from lm_eval.tasks.ifeval import utils

    out = []
    for r in rows:
        example = utils.InputExample(0, r.extras["instruction_id_list"], r.prompt_text, r.extras["kwargs"])
        verdicts = utils.test_instruction_following_strict(example, r.completion_text).follow_instruction_list
        out.append(sum(verdicts) / len(verdicts))
    return out


_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def _squad_normalize(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def peer_qa(rows: list[Sample]) -> list[float]:
    out = []
    for r in rows:
        m = _ANSWER.findall(r.completion_text)
        pred = _squad_normalize(m[-1]).split() if m else []
        best = 0.0
        for gold in r.reference:
            g = _squad_normalize(gold).split()
            common = sum((Counter(pred) & Counter(g)).values())
            if common:
                p, rc = common / len(pred), common / len(g)
                best = max(best, 2 * p * rc / (p + rc))
        out.append(best)
    return out


def _peer_tools(rows: list[Sample], validate: Callable[[str, Any], bool]) -> list[float]:
    out = []
    for r in rows:
        calls = [json.loads(b) for b in re.findall(r"<tool_call>(.*?)</tool_call>", r.completion_text, re.DOTALL)]
        ok = all(validate(c["name"], c["arguments"]) for c in calls)
        out.append(float(ok and calls == r.reference))
    return out


def peer_tools(rows: list[Sample]) -> list[float]:
    """``jsonschema.validate`` per call (it checks the schema itself every time), then exact equality."""
    import jsonschema

    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}

    def validate(name: str, args: Any) -> bool:
        try:
            jsonschema.validate(args, schemas[name])
        except (jsonschema.ValidationError, KeyError):
            return False
        return True

    return _peer_tools(rows, validate)


def peer_tools_compiled(rows: list[Sample]) -> list[float]:
    """The same with one compiled validator per tool, built once."""
    import jsonschema

    validators = {
        t["function"]["name"]: jsonschema.validators.validator_for(t["function"]["parameters"])(
            t["function"]["parameters"]
        )
        for t in TOOLS
    }
    return _peer_tools(rows, lambda name, args: name in validators and validators[name].is_valid(args))


_POINT = re.compile(r"\(\s*([-\d.]+)\s*,\s*([-\d.]+)\s*\)")


def peer_gui(rows: list[Sample]) -> list[float]:
    out = []
    for r in rows:
        m = _POINT.search(r.completion_text)
        x1, y1, x2, y2 = r.reference
        x, y = float(m.group(1)), float(m.group(2))
        sx, sy = 0.5 * (x2 - x1), 0.5 * (y2 - y1)
        out.append(math.exp(-0.5 * (((x - (x1 + x2) / 2) / sx) ** 2 + ((y - (y1 + y2) / 2) / sy) ** 2)))
    return out


# -- the run --------------------------------------------------------------------------------

Family = tuple[str, Callable[[random.Random, int], list[Sample]], str, Callable[..., list[float]], float, bool]
FAMILIES: list[Family] = [
    # (reward, rows, peer, peer function, share of --rows, same number as the peer)
    ("bleu", text_rows, "sacrebleu.sentence_bleu", peer_sacrebleu("bleu"), 1.0, True),
    ("chrf", text_rows, "sacrebleu.sentence_chrf", peer_sacrebleu("chrf"), 1.0, True),
    ("ter", text_rows, "sacrebleu.sentence_ter", peer_sacrebleu("ter"), 1.0, True),
    ("rouge", text_rows, "RougeScorer.score_multi", peer_rouge, 1.0, True),
    ("embedding_similarity", text_rows, "SentenceTransformer.encode + dot", peer_embedding, 0.1, True),
    ("ifeval", ifeval_rows, "lm-eval test_instruction_following_strict", peer_ifeval, 1.0, True),
    ("qa_f1", qa_rows, "regex + SQuAD script F1", peer_qa, 1.0, True),
    ("tool_call", tool_rows, "regex + json.loads + jsonschema.validate + ==", peer_tools, 1.0, False),
    ("tool_call", tool_rows, "the same, validators compiled once", peer_tools_compiled, 1.0, False),
    ("gui_point", gui_rows, "regex + Gaussian", peer_gui, 1.0, True),
]


def timed(fn: Callable[[list[Sample]], Any], rows: list[Sample]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn(rows)
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="reward names to run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        punkt_model(Path(tmp))
        print(f"{platform.machine()}, {platform.python_version()}, rows={args.rows}, repeat={args.repeat}\n")
        print("| reward | peer | rows | rewardlab rows/s | peer rows/s | rewardlab / peer time | same values |")
        print("|---|---|---|---|---|---|---|")
        for name, make, label, peer, share, same in FAMILIES:
            if args.only and name not in args.only:
                continue
            rows = make(random.Random(0), max(1, int(args.rows * share)))
            reward = rewardlab.load(name)
            # imports, model and language-profile loading outside the timing, on both sides
            reward.score(rows[:64])
            peer(rows[:64])
            ours, theirs = [], []
            for _ in range(args.repeat):
                t, scores = timed(reward.score, rows)
                ours.append(t)
                t, values = timed(peer, rows)
                theirs.append(t)
            got = [s.value for s in scores]
            if any(s.status.value != "ok" for s in scores):
                raise SystemExit(f"{name}: not every row scored ok: {[s.reason for s in scores if not s.is_ok][:3]}")
            agree = "n/a"
            if same:
                scale = 100.0 if name in ("bleu", "chrf") else 1.0
                expected = [1 - min(v, 100) / 100 if name == "ter" else min(1.0, v / scale) for v in values]
                close = all(math.isclose(a, max(0.0, b), abs_tol=1e-6) for a, b in zip(got, expected, strict=True))
                agree = "yes" if close else "NO"
                if not close:  # the agreement BENCHMARKS.md states is asserted, not only printed
                    raise SystemExit(f"{name}: rewardlab and {label} give different values")
            a, b = statistics.median(ours), statistics.median(theirs)
            n = len(rows)
            print(f"| {name} | {label} | {n} | {n / a:,.0f} | {n / b:,.0f} | {a / b:.2f}x | {agree} |")


if __name__ == "__main__":
    main()
