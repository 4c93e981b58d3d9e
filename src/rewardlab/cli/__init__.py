"""The ``rewardlab`` command line."""

from rewardlab.cli._app import app, main

__all__ = ["app", "main"]
