"""``rewardlab serve``: rewards over HTTP, for trainers that call a reward server."""

from __future__ import annotations

import typer

from rewardlab.cli._common import err, fail, load_reward


def serve(
    rewards: list[str] = typer.Argument(
        ..., help="Rewards to serve: names, signatures or spec files; NAME=SPEC serves SPEC under NAME."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback unless told otherwise)."),
    port: int = typer.Option(8000, help="Port."),
    param: list[str] = typer.Option(None, "--param", "-p", help="Parameter key=value of the (single) reward."),
    max_batch: int = typer.Option(64, min=1, help="Most samples per batch, gathered across requests."),
    max_wait_ms: float = typer.Option(5.0, min=0.0, help="Longest wait for more requests to fill a batch."),
    max_queue: int = typer.Option(4096, min=1, help="Most samples waiting per reward; past it, 503 + Retry-After."),
    timeout: float = typer.Option(60.0, min=0.001, help="Deadline of one request in seconds (items then 'timeout')."),
    api_key: str = typer.Option(
        None, envvar="REWARDLAB_API_KEY", help="Require 'Authorization: Bearer KEY' (also $REWARDLAB_API_KEY)."
    ),
    workers: int = typer.Option(None, "--workers", "-w", min=1, help="Worker processes for process rewards."),
    on_failure: float = typer.Option(
        0.0, help="Value OpenRLHF and slime get for a non-ok score (its status is reported beside it)."
    ),
    max_body_mb: float = typer.Option(32.0, min=0.001, help="Largest request body in MiB (larger: 413)."),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
    use_ray: bool = typer.Option(False, "--ray", help="Serve as a Ray Serve deployment (replicas on a Ray cluster)."),
    ray_address: str = typer.Option(
        None, help="Ray cluster to join with --ray: 'auto', ray://host:10001, ... (default: a local Ray)."
    ),
    replicas: int = typer.Option(
        None, min=1, help="Replicas with --ray (default 1; --max-replicas autoscales instead)."
    ),
    min_replicas: int = typer.Option(None, min=0, help="Autoscaling floor with --ray (default 1)."),
    max_replicas: int = typer.Option(None, min=1, help="Autoscaling ceiling with --ray: turns autoscaling on."),
    target_ongoing: float = typer.Option(
        64.0, min=0.001, help="Requests in flight per replica that autoscaling aims at, with --max-replicas."
    ),
    replica_cpus: float = typer.Option(0.5, min=0.0, help="CPUs each replica asks Ray for, with --ray."),
    replica_gpus: float = typer.Option(0.0, min=0.0, help="GPUs each replica asks Ray for, with --ray."),
) -> None:
    """Serve rewards over HTTP: native /v1/score, OpenRLHF /get_reward, slime /slime, /metrics."""
    if not use_ray and any(v is not None for v in (ray_address, replicas, min_replicas, max_replicas)):
        fail("--ray-address, --replicas, --min-replicas and --max-replicas need --ray", 2)
    if replicas is not None and max_replicas is not None:
        fail("give --replicas (a fixed count) or --min-replicas/--max-replicas (autoscaling), not both", 2)
    if min_replicas is not None and max_replicas is None:
        fail("--min-replicas needs --max-replicas (autoscaling)", 2)
    try:
        import uvicorn

        from rewardlab.serve import ServeConfig, build_app
    except ImportError as exc:
        fail(f"rewardlab serve needs the 'serve' extra: pip install 'rewardlab[serve]' ({exc})", 2)
    if param and len(rewards) > 1:
        fail("--param applies to a single reward; put parameters of several in spec files", 2)
    loaded = {}
    for item in rewards:
        name, sep, spec = item.partition("=")
        if not sep or "|" in name or "/" in name:
            name, spec = "", item
        reward = load_reward(spec, param)
        key = name or reward.name
        if key in loaded:
            fail(f"two rewards would be served as {key!r}; name them NAME=SPEC", 2)
        loaded[key] = reward
    config = ServeConfig(
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        max_queue=max_queue,
        timeout=timeout,
        api_key=api_key or None,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        on_failure=on_failure,
        workers=workers,
    )
    if use_ray:
        from rewardlab.ray._serve import Scaling, run_on_ray

        scaling = Scaling(
            replicas=replicas or 1,
            min_replicas=1 if min_replicas is None else min_replicas,
            max_replicas=max_replicas,
            target_ongoing_requests=target_ongoing,
            replica_cpus=replica_cpus,
            replica_gpus=replica_gpus,
        )
        try:
            run_on_ray(loaded, config, scaling, host=host, port=port, address=ray_address, announce=err.print)
        except (RuntimeError, ValueError) as exc:
            fail(str(exc), 1)
        return
    app = build_app(loaded, config)
    exposed = "" if host in ("127.0.0.1", "localhost", "::1") else " (reachable beyond this machine)"
    auth = "bearer token required" if config.api_key else "no authentication"
    err.print(f"serving {', '.join(loaded)} on http://{host}:{port}{exposed}; {auth}")
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=int(config.drain_s))
