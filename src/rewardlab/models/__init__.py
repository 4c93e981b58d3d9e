"""Learned reward models (the ``models`` extra: ``pip install 'rewardlab[models]'``).

The rewards ``rm``, ``dpo_implicit``, ``likelihood``, ``prm`` and ``embedding_rm`` are
loaded by name like every other reward (``rewardlab.load("rm", model=PATH)``); each loads
its model once, on its first batch, shares it between threads, and releases it on
``close()``. Importing this package, or ``rewardlab``, does not import torch or transformers.

`train_embedding_rm` (``rewardlab train-rm``) trains the embedding RM from preference pairs;
`SentenceEncoder` is the project's one sentence-embedding loader.
"""

from rewardlab.models._embedding_rm import TrainReport, train_embedding_rm
from rewardlab.models._encoder import SentenceEncoder, packaged_minilm_path
from rewardlab.models._engine import ModelLoadError
from rewardlab.models._pairs import Pair, read_pairs

__all__ = [
    "ModelLoadError",
    "Pair",
    "SentenceEncoder",
    "TrainReport",
    "packaged_minilm_path",
    "read_pairs",
    "train_embedding_rm",
]
