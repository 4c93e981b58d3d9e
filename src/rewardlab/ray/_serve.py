"""The reward server as a Ray Serve deployment: the same application, batched by ``@serve.batch``.

Each replica builds the rewards from their recipes (a resident reward is rebuilt from its
registered function and parameters, never pickled), then ingresses the very FastAPI
application of `rewardlab.serve` (endpoints, bearer-token and body-size gate, deadlines,
statuses, metrics). The only part that differs is cross-request batching: in a replica it
is Ray Serve's ``@serve.batch``, sized in samples, not requests.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rewardlab._reward import Reward
from rewardlab._types import Sample, Score
from rewardlab.ray._actors import _rebuild, _recipe, _require_ray
from rewardlab.runtime._batcher import QueueFull, ScoreBatch, ShuttingDown

if TYPE_CHECKING:  # the server's module imports FastAPI: only replicas and `serve --ray` need it
    from rewardlab.serve._app import ServeConfig

DEFAULT_REPLICA_CPUS = 0.5
"""CPUs each replica asks Ray for: fractional, so replicas, Serve's proxy and controller
and Ray's own tasks never wait on each other for whole cores on a small machine."""

METRICS_PUSH_S = 1.0
"""How often a replica sends its metrics to the application's collector (so ``/metrics``,
answered by any one replica, counts every replica's work)."""


@dataclass(frozen=True)
class Scaling:
    """How many replicas serve the rewards.

    Attributes:
        replicas: A fixed number of replicas (ignored when ``max_replicas`` is set).
        min_replicas: Autoscaling's floor.
        max_replicas: Autoscaling's ceiling; set it to turn autoscaling on.
        target_ongoing_requests: Requests in flight per replica that autoscaling aims at.
        replica_cpus: CPUs each replica asks for (fractional is fine).
        replica_gpus: GPUs each replica asks for (a model reward: 1, or a fraction).
        max_ongoing_requests: Requests Ray Serve sends one replica at once (``None``: enough
            for every sample of the replica's queue to be its own request).
    """

    replicas: int = 1
    min_replicas: int = 1
    max_replicas: int | None = None
    target_ongoing_requests: float = 64.0
    replica_cpus: float = DEFAULT_REPLICA_CPUS
    replica_gpus: float = 0.0
    max_ongoing_requests: int | None = None

    def options(self, config: ServeConfig) -> dict[str, Any]:
        """Keyword arguments of ``serve.deployment`` for these settings and ``config``."""
        from rewardlab.serve._app import RETRY_AFTER_S

        ongoing = self.max_ongoing_requests or max(config.max_queue, config.max_batch * config.concurrency)
        options: dict[str, Any] = {
            "ray_actor_options": {"num_cpus": self.replica_cpus, "num_gpus": self.replica_gpus},
            "max_ongoing_requests": ongoing,
            # requests the proxy holds while every replica is at max_ongoing_requests;
            # past it Serve itself answers 503 with Retry-After, like the local queue
            "max_queued_requests": config.max_queue,
            "backpressure_config": {"status_code": 503, "retry_after_s": RETRY_AFTER_S},
            "graceful_shutdown_timeout_s": config.drain_s,
            "graceful_shutdown_wait_loop_s": 0.5,
        }
        if self.max_replicas is not None:
            if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
                raise ValueError("autoscaling needs 0 <= min_replicas <= max_replicas and max_replicas >= 1")
            options["autoscaling_config"] = {
                "min_replicas": self.min_replicas,
                "max_replicas": self.max_replicas,
                "initial_replicas": max(1, self.min_replicas),
                "target_ongoing_requests": self.target_ongoing_requests,
            }
        else:
            if self.replicas < 1:
                raise ValueError("replicas must be at least 1")
            options["num_replicas"] = self.replicas
        return options


class ServeBatcher:
    """A reward's cross-request batcher inside a replica, built on ``@serve.batch``.

    The same contract as the runtime's `Batcher`: a bounded queue counted in samples
    (`QueueFull` past ``max_queue``), whole requests kept together in one batch, a
    request larger than ``max_batch`` cut into batches of ``max_batch``, a reward that
    raises turning its batch into ``error`` scores, and a request answered by its
    deadline (the server's expiry cancels its place in a batch not yet started).
    """

    def __init__(
        self,
        score_batch: ScoreBatch,
        *,
        max_batch: int = 64,
        max_wait_s: float = 0.005,
        max_queue: int = 4096,
        concurrency: int = 2,
        on_batch: Any = None,
    ) -> None:
        from ray import serve

        if max_batch < 1 or max_queue < 1 or concurrency < 1:
            raise ValueError("max_batch, max_queue and concurrency must be at least 1")
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._held = 0
        self._closing = False
        self._tasks: set[asyncio.Task[list[Score]]] = set()

        async def score_requests(requests: list[list[Sample]]) -> list[list[Score]]:
            samples = [s for request in requests for s in request]
            started = time.monotonic()
            try:
                scores = await score_batch(samples)
                if len(scores) != len(samples):
                    raise RuntimeError(f"{len(scores)} scores for {len(samples)} samples")
            except Exception as exc:  # the reward itself failed: every sample of the batch says so
                scores = [Score.error(f"reward failed on this batch: {type(exc).__name__}: {exc}")] * len(samples)
            if on_batch is not None:
                on_batch(len(samples), time.monotonic() - started)
            out, at = [], 0
            for request in requests:
                out.append(list(scores[at : at + len(request)]))
                at += len(request)
            return out

        self._batched = serve.batch(
            max_batch_size=max_batch,
            batch_wait_timeout_s=max(0.0, max_wait_s),
            max_concurrent_batches=concurrency,
            batch_size_fn=_samples_in,
        )(score_requests)

    @property
    def depth(self) -> int:
        """Samples waiting or being scored in this replica."""
        return self._held

    def start(self) -> None:
        """Nothing to start: ``@serve.batch`` opens its queue on first use."""

    def submit(self, samples: list[Sample], deadline: float) -> asyncio.Future[list[Score]]:
        if self._closing:
            raise ShuttingDown()
        if self._held + len(samples) > self.max_queue and self._held > 0:
            raise QueueFull(self._held, self.max_queue)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[Score]] = loop.create_future()
        self._held += len(samples)
        held = len(samples)
        chunks = [samples[i : i + self.max_batch] for i in range(0, len(samples), self.max_batch)]

        async def run() -> list[Score]:
            parts = await asyncio.gather(*(self._batched(chunk) for chunk in chunks))
            return [s for part in parts for s in part]

        task = loop.create_task(run())
        self._tasks.add(task)

        def finished(task: asyncio.Task[list[Score]]) -> None:
            nonlocal held
            self._tasks.discard(task)
            self._held -= held
            held = 0
            if answer.done():
                return
            if task.cancelled():
                answer.set_result([Score.error("server shut down before scoring")] * len(samples))
            elif task.exception() is not None:
                exc = task.exception()
                answer.set_result([Score.error(f"batching failed: {type(exc).__name__}: {exc}")] * len(samples))
            else:
                answer.set_result(task.result())

        def answered(_: asyncio.Future[list[Score]]) -> None:
            # answered by the deadline: give up its place in a batch that has not started
            if not task.done():
                task.cancel()

        task.add_done_callback(finished)
        answer.add_done_callback(answered)
        return answer

    async def drain(self, timeout: float) -> None:
        """Stop taking work and finish what is in flight (at most ``timeout`` seconds)."""
        self._closing = True
        pending = list(self._tasks)
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, timeout))
        for task in list(self._tasks):
            task.cancel()


def _samples_in(requests: list[list[Sample]]) -> int:
    return sum(len(request) for request in requests)


class _MetricsCollector:
    """The application's metrics: the latest snapshot of every replica, merged on demand."""

    def __init__(self) -> None:
        self._latest: dict[str, tuple[float, bytes]] = {}

    def push(self, replica: str, text: bytes) -> None:
        self._latest[replica] = (time.monotonic(), text)

    def render(self) -> bytes:
        now = time.monotonic()
        fresh = [text for at, text in self._latest.values() if now - at <= STALE_AFTER_S]
        stale = [text for at, text in self._latest.values() if now - at > STALE_AFTER_S]
        return merge_metrics(fresh, counted_only=stale)


STALE_AFTER_S = 5 * METRICS_PUSH_S
"""A replica silent this long is gone (crashed, or scaled down without a last push): its
counts stay in the totals, its gauges (queue depth) no longer do."""


def merge_metrics(texts: list[bytes], *, counted_only: list[bytes] | None = None) -> bytes:
    """Prometheus texts of several replicas as one: counters, histograms and gauges summed.

    ``*_created`` samples (when a series started) take the earliest; every other sample of
    the same name and labels is added up (a queue depth summed over replicas is what the
    application holds). Of ``counted_only`` (replicas that are gone), only counters and
    histograms are added.
    """
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    families: dict[str, Any] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    tagged = [(text, False) for text in texts] + [(text, True) for text in counted_only or []]
    for text, gone in tagged:
        for family in text_string_to_metric_families(text.decode()):
            if gone and family.type == "gauge":
                continue
            families.setdefault(family.name, family)
            merged = values.setdefault(family.name, {})
            for sample in family.samples:
                key = (sample.name, tuple(sample.labels.items()))
                if key not in merged:
                    merged[key] = sample.value
                elif sample.name.endswith("_created"):
                    merged[key] = min(merged[key], sample.value)
                else:
                    merged[key] += sample.value

    class _Merged:
        def collect(self) -> Any:
            from prometheus_client.samples import Sample as PromSample

            for name, family in families.items():
                family.samples = [
                    PromSample(sample_name, dict(labels), value)
                    for (sample_name, labels), value in values[name].items()
                ]
                yield family

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged())
    return generate_latest(registry)


class _RewardIngress:
    """One replica: the rewards rebuilt from their recipes and the server's application."""

    def __init__(self, recipes: dict[str, tuple[str, Any]], config: ServeConfig, collector: Any = None) -> None:
        import uuid

        self._rewards = {name: _rebuild(recipe) for name, recipe in recipes.items()}
        self._config = config
        self._collector = collector
        self._replica = uuid.uuid4().hex
        self._pusher: asyncio.Task[None] | None = None

    async def __serve_build_asgi_app__(self) -> Any:
        from rewardlab.serve._app import _build_app

        collector = self._collector
        merge = None if collector is None else self._merged
        app = _build_app(self._rewards, self._config, ServeBatcher, merge)
        self._server = app.state.server
        if collector is not None:
            self._pusher = asyncio.get_running_loop().create_task(self._push_every(METRICS_PUSH_S))
        return app

    async def _merged(self, own: bytes) -> bytes:
        assert self._collector is not None
        try:
            await self._collector.push.remote(self._replica, own)
            return bytes(await self._collector.render.remote())
        except Exception:  # the collector is restarting: this replica's own numbers beat none
            return own

    async def _push_every(self, seconds: float) -> None:
        assert self._collector is not None
        while True:
            await asyncio.sleep(seconds)
            try:
                await self._collector.push.remote(self._replica, self._server.render_metrics())
            except Exception:  # the collector is restarting or gone: the next push catches up
                pass

    async def __del__(self) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
        if self._collector is not None:  # the final counts, queue depths drained to zero
            try:
                await asyncio.wait_for(self._collector.push.remote(self._replica, self._server.render_metrics()), 5)
            except Exception:
                pass


def serve_application(
    rewards: Mapping[str, Reward], config: ServeConfig | None = None, scaling: Scaling | None = None
) -> Any:
    """The reward server as a Ray Serve application, ready for ``serve.run``.

    Each replica rebuilds ``rewards`` (name -> reward) from their recipes, sets them up
    once, and serves the same endpoints as `rewardlab.serve.build_app`, batching
    concurrent requests with ``@serve.batch`` (``config.max_batch`` samples, waiting
    ``config.max_wait_ms``).

    Example::

        from ray import serve
        serve.run(serve_application({"math": rewardlab.load("math")}, scaling=Scaling(replicas=2)),
                  route_prefix="/")
    """
    _require_ray()
    from ray import serve

    from rewardlab.serve._app import ServeConfig

    if not rewards:
        raise ValueError("serve at least one reward")
    config = config or ServeConfig()
    scaling = scaling or Scaling()
    recipes = {name: _recipe(reward) for name, reward in rewards.items()}
    ingress = serve.ingress()(_RewardIngress)
    deployment = serve.deployment(name="rewardlab", **scaling.options(config))(ingress)
    collector = serve.deployment(
        name="rewardlab-metrics", num_replicas=1, ray_actor_options={"num_cpus": 0}, max_ongoing_requests=1000
    )(_MetricsCollector)
    return deployment.bind(recipes, config, collector.bind())


APP_NAME = "rewardlab"
"""The Serve application's name (``serve status`` shows it)."""


def run_on_ray(
    rewards: Mapping[str, Reward],
    config: ServeConfig,
    scaling: Scaling,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    address: str | None = None,
    announce: Callable[[str], Any] = print,
    stop: threading.Event | None = None,
) -> None:
    """Serve ``rewards`` on Ray Serve until SIGINT or SIGTERM (or ``stop`` is set), then shut down.

    Joins the Ray cluster at ``address`` (a local Ray when ``None`` and none is running),
    starts Serve with its HTTP proxy on ``host:port``, deploys the application and waits.
    Shutdown is graceful: replicas stop taking requests, finish what they hold (up to
    ``config.drain_s``), close their rewards; then Serve and this process's Ray connection
    end. When Serve already runs on the cluster, the application joins it (at that Serve's
    own HTTP address) and only this application is deleted at the end.
    """
    import logging

    ray = _require_ray()
    from ray import serve

    logging.getLogger("ray.serve").setLevel(logging.WARNING)
    joined = ray.is_initialized()
    if not joined:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    if stop is None:
        stop = threading.Event()
        event = stop

        def on_signal(signum: int, frame: Any) -> None:
            if event.is_set():  # a second Ctrl-C: stop waiting for the drain
                raise KeyboardInterrupt
            event.set()

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, on_signal)
    existing = _serve_running()
    try:
        if existing:
            announce(f"Serve already runs on this Ray cluster: {APP_NAME} joins it at its own HTTP address")
        else:
            serve.start(
                http_options={"host": host, "port": port},
                logging_config={"log_level": "WARNING", "enable_access_log": False},
            )
        serve.run(serve_application(rewards, config, scaling), name=APP_NAME, route_prefix="/")
        exposed = "" if host in ("127.0.0.1", "localhost", "::1") else " (reachable beyond this machine)"
        auth = "bearer token required" if config.api_key else "no authentication"
        count = (
            f"{scaling.min_replicas}..{scaling.max_replicas} replicas (autoscaling)"
            if scaling.max_replicas is not None
            else f"{scaling.replicas} replica{'s' if scaling.replicas != 1 else ''}"
        )
        where = "" if existing else f" on http://{host}:{port}{exposed}"
        announce(f"serving {', '.join(rewards)}{where} with Ray Serve, {count}; {auth}")
        while not stop.wait(0.5):
            pass
        announce("shutting down: finishing requests in flight")
    finally:
        try:
            if existing:
                serve.delete(APP_NAME)
            else:
                serve.shutdown()
        finally:
            if not joined:
                ray.shutdown()


def _serve_running() -> bool:
    """Whether a Serve controller already runs on the connected cluster."""
    import ray
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    try:
        ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
    except ValueError:
        return False
    return True
