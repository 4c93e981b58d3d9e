"""The model engine's batching and out-of-memory splitting (pure Python: no model needed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewardlab.models._engine import OutOfMemory, length_batches, run_split


@given(st.lists(st.integers(min_value=0, max_value=3000), max_size=300), st.integers(min_value=1, max_value=20000))
def test_length_batches_cover_every_sample_once_within_the_budget(lengths: list[int], budget: int) -> None:
    batches = length_batches(lengths, budget, max_samples=64)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    for batch in batches:
        width = max(max(1, lengths[i]) for i in batch)
        assert len(batch) == 1 or width * len(batch) <= budget
        assert len(batch) <= 64
    # longest first: a batch never holds a sample longer than one of an earlier batch's
    seen_min = float("inf")
    for batch in batches:
        assert max(lengths[i] for i in batch) <= seen_min
        seen_min = min(lengths[i] for i in batch)


def test_length_batches_keep_padding_low_on_mixed_lengths() -> None:
    lengths = [(i * 7919) % 500 + 10 for i in range(400)]
    batches = length_batches(lengths, 8192)
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    assert padded / sum(lengths) < 1.15


def test_run_split_halves_on_out_of_memory_and_fails_only_what_cannot_fit() -> None:
    calls: list[list[int]] = []

    def forward(part: list[int]) -> list[int]:
        calls.append(part)
        if len(part) > 2 or 7 in part:
            raise MemoryError("cannot allocate")
        return [i * 10 for i in part]

    result = run_split(list(range(8)), forward)
    assert {i: v for i, v in result.items() if not isinstance(v, BaseException)} == {
        i: i * 10 for i in range(8) if i != 7
    }
    assert isinstance(result[7], OutOfMemory)
    assert calls[0] == list(range(8))


def test_run_split_lets_other_errors_through() -> None:
    def forward(part: list[int]) -> list[int]:
        raise ValueError("a bug, not memory")

    with pytest.raises(ValueError, match="a bug"):
        run_split([1, 2], forward)
