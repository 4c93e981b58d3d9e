"""``python -m rewardlab.cli``, the same as the ``rewardlab`` command."""

from rewardlab.cli._app import main

main()
