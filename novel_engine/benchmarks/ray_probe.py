"""Reading a Ray session's shards for the benchmarks, and a multi-node cluster to run one on.

:class:`ShardProbe` asks every shard of a session for its ``last_timings`` after a turn (one
batched ``ray.get``, made by the benchmark between turns: a normal turn makes no such call) and
turns them into the per-shard samples :mod:`novel_engine.benchmarks.scaling` reads.
:func:`bench_cluster` starts a ``ray.cluster_utils.Cluster`` of several nodes on this machine,
each with a custom resource whose count caps the shards it takes, so the session's shards spread
over every node.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["ShardProbe", "DriverClock", "local_cluster", "SHARD_RESOURCE"]

SHARD_RESOURCE = "bench_shard"  # every node has some; each shard asks one, so a node takes at most its count


class ShardProbe:
    """The shards (and the chronicler) of one Ray session, read after each turn.

    Args:
        session: a :class:`~novel_engine.session.Session` on the Ray runtime.
    """

    def __init__(self, session: Any) -> None:
        import ray

        from novel_engine.runtime.ray.runtime import NAMESPACE

        self._ray = ray
        rt = session._rt  # the RayRuntime: the benchmark reads its actors by name
        self.names = [n for n in rt.names if ":persona:" in n or ":belief:" in n or n.endswith(":chronicler")]
        self.actors = [ray.get_actor(n, namespace=NAMESPACE) for n in self.names]
        self.nodes = dict(zip(self.names, ray.get([a.node.remote() for a in self.actors])))
        self._cpu: dict[str, float] = {}

    def read(self) -> tuple[list[dict[str, Any]], float | None]:
        """The last turn's samples, one per shard (``role``, ``name``, ``node``, ``wall``, ``cpu``,
        ``process_cpu``: its process's CPU since the previous read, ``wait_views``; a persona
        shard that holds its personas' beliefs gives a second, ``belief`` one with ``part``: its
        believe phase, taken out of the first, and a third, ``perceive``, when it routes the
        fragments itself), and the
        chronicler's CPU for its narration (None when it has not narrated)."""
        timings = self._ray.get([a.last_timings.remote() for a in self.actors])
        samples, narrate_cpu = [], None
        for name, t in zip(self.names, timings):
            if not t:
                continue
            before, self._cpu[name] = self._cpu.get(name), t["process_cpu"]
            grew = t["process_cpu"] - before if before is not None else t["cpu"]
            if name.endswith(":chronicler"):
                narrate_cpu = t["cpu"]
                continue
            sample = {
                "role": "persona" if ":persona:" in name else "belief",
                "name": name,
                "node": self.nodes[name],
                "wall": t["wall"],
                "cpu": t["cpu"],
                "process_cpu": max(grew, t["cpu"]),
                "wait_views": t.get("wait_views", 0.0),
                "start": t["start"],
                "end": t["end"],
            }
            # a persona shard that holds its beliefs (and perceives): those phases apart
            for key, role in (("perceive_cpu", "perceive"), ("believe_cpu", "belief")):
                spent = t.get(key)
                if spent is None:
                    continue
                # perceived ahead: in an earlier call, whose CPU is in the process's but not the call's
                ahead = role == "perceive" and t.get("perceived_ahead")
                sample.update(cpu=sample["cpu"] - (0.0 if ahead else spent), process_cpu=sample["process_cpu"] - spent)
                samples.append(
                    {**sample, "role": role, "wall": spent, "cpu": spent, "process_cpu": spent, "part": True}
                )
            samples.append(sample)
        return samples, narrate_cpu


class DriverClock:
    """Times the driver's calls into a Ray session (``step``: the director's turn there and back,
    ``publish``: the committed turn to the event hub, ``checkpoint``: when one is due) by wrapping
    them on this session's runtime handle: the benchmark's process only, the actors are untouched.

    Args:
        session: a :class:`~novel_engine.session.Session` on the Ray runtime.
    """

    CALLS = ("step", "publish", "checkpoint")

    def __init__(self, session: Any) -> None:
        self.spent: dict[str, float] = {}
        rt = session._rt
        for name in self.CALLS:
            setattr(rt, name, self._timed(name, getattr(rt, name)))

    def _timed(self, name: str, call: Any) -> Any:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            if name == "step":
                self.spent["step_start"] = time.time()  # comparable with the shards' clocks
            t = time.perf_counter()
            try:
                return await call(*args, **kwargs)
            finally:
                self.spent[name] = self.spent.get(name, 0.0) + time.perf_counter() - t

        return timed

    def take(self) -> dict[str, float]:
        """Seconds per call since the last ``take`` (every call of ``CALLS``, 0.0 when not made),
        and ``step_start``: the wall clock (``time.time``) when the last step call began."""
        out = {name: self.spent.get(name, 0.0) for name in self.CALLS}
        if "step_start" in self.spent:
            out["step_start"] = self.spent["step_start"]
        self.spent = {}
        return out


@contextmanager
def local_cluster(nodes: int, shards: int) -> Iterator[tuple[str, dict[str, str]]]:
    """A ``ray.cluster_utils.Cluster`` of ``nodes`` nodes on this machine, this process connected.

    Every node is a real raylet with its own object store, one logical CPU, a resource
    ``bench_node<i>`` of its own (to tell the nodes apart) and ``SHARD_RESOURCE`` for
    ``ceil(shards / nodes)`` shards, so shards asking one each (``actor_options``) land on every
    node. Yields the address and a map from node id to ``bench_node<i>``; shuts the nodes down after.
    """
    import os

    import ray
    from ray.cluster_utils import Cluster

    from novel_engine.runtime.ray.connection import connect

    os.environ.setdefault("RAY_worker_niceness", "0")  # as ``connect`` starts a local instance
    per_node = math.ceil(shards / nodes)
    resources = [{SHARD_RESOURCE: per_node, f"bench_node{i}": 1} for i in range(nodes)]
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": resources[0]})
    try:
        for res in resources[1:]:
            cluster.add_node(num_cpus=1, resources=res)
        cluster.wait_for_nodes()
        connect(address=cluster.address)
        names = {}
        for node in ray.nodes():
            tag = next((k for k in node.get("Resources", {}) if k.startswith("bench_node")), None)
            if node.get("Alive") and tag:
                names[node["NodeID"]] = tag
        yield cluster.address, names
    finally:
        ray.shutdown()
        cluster.shutdown()
