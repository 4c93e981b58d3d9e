"""``python -m rewardlab``, the same as the ``rewardlab`` command."""

from rewardlab.cli._app import main

main()
