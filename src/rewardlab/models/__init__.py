"""Learned reward models (the ``models`` extra: ``pip install 'rewardlab[models]'``).

The rewards ``rm``, ``dpo_implicit``, ``likelihood``, ``prm`` and ``embedding_rm`` are
loaded by name like every other reward (``rewardlab.load("rm", model=PATH)``); each loads
its model once, on its first batch, and releases it on ``close()``. Importing this
package, or ``rewardlab``, does not import torch or transformers.
"""
