"""Protocol compatibility end to end: judges against `transformers serve` with a tiny chat model built here."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("transformers")

import rewardlab  # noqa: E402
from _judge_fixtures import build_tiny_chat_model, transformers_server  # noqa: E402
from rewardlab import Status  # noqa: E402

pytestmark = pytest.mark.slow

QA = {"prompt": "what is 2 + 2 ?", "reference": "4"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    model_dir = tmp_path_factory.mktemp("tiny") / "model"
    build_tiny_chat_model(model_dir)
    with transformers_server(model_dir) as url:
        yield url, str(model_dir)


def test_judges_round_trip_through_transformers_serve(served: tuple[str, str], tmp_path: Path) -> None:
    url, model = served
    cache = str(tmp_path / "judge.sqlite")
    common = {"base_url": url, "model": model, "max_tokens": 12, "cache_path": cache}
    verify = rewardlab.load("judge_verify", **common)
    rows = [{"completion": "the answer is 4", **QA}, {"completion": "the answer is 5", **QA}, {"completion": ":", **QA}]
    first = verify.score(rows)
    # a random tiny model writes no verdict line: that is an error with the reply quoted, never a 0 or a 1
    for score in first[:2]:
        assert score.status is Status.ERROR and "no well-formed verdict" in score.reason, score
        assert score.components["judge_requests"] == 1.0
        assert score.components["judge_prompt_tokens"] > 100 and score.components["judge_completion_tokens"] > 0
    assert first[2].status is Status.OK and first[2].value == 0.0  # no content: never sent
    # the same requests again, from another event loop: answered by the cache, zero requests
    again = asyncio.run(verify.ascore(rows))
    assert [s.reason for s in again] == [s.reason for s in first]
    assert all(s.components.get("judge_requests", 0.0) == 0.0 for s in again)
    assert [s.components.get("judge_cached") for s in again[:2]] == [1.0, 1.0]
    assert verify.client.stats.requests == 2
    verify.close()


def test_every_judge_kind_speaks_the_protocol(served: tuple[str, str]) -> None:
    url, model = served
    common = {"base_url": url, "model": model, "max_tokens": 8, "cache": "off"}
    row = {"completion": "the answer is 4", "other": "the answer is 5", **QA}
    for name, extra in (
        ("judge", {}),
        ("judge_pairwise", {}),
        ("rubric", {"rubric": ["states the answer", "is short"], "mode": "all_at_once"}),
        ("principles", {"principles": ["is polite"]}),
    ):
        judge = rewardlab.load(name, **common, **extra)
        score = judge.score_one(row)
        assert score.status is Status.ERROR and "no well-formed verdict" in score.reason, (name, score)
        assert score.components["judge_completion_tokens"] > 0
        judge.close()


def test_a_4xx_from_transformers_serve_carries_its_message(served: tuple[str, str]) -> None:
    url, _ = served
    judge = rewardlab.load("judge_verify", base_url=url, model="/no/such/model", cache="off", retries=0, deadline=30)
    score = judge.score_one({"completion": "4", **QA})
    assert score.status is Status.ERROR, score
    assert "refused the request (HTTP 400)" in score.reason
    judge.close()
