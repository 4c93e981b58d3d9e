"""`rewardlab serve`: rewards over HTTP for any trainer, with cross-request batching.

`build_app` returns the FastAPI application (its lifespan sets the rewards up and
closes them); `ServeConfig` holds the server's settings. The client side is
`rewardlab.remote`. See ``docs/serve.md``.
"""

from rewardlab.serve._app import ServeConfig, build_app

__all__ = ["ServeConfig", "build_app"]
