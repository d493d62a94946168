"""Shared fixtures: one Ray instance for the whole test session (started only if a test needs it).

The instance is a small multi-node cluster on this machine (three nodes of one CPU each, through
``ray.cluster_utils.Cluster``), so placement across nodes is exercised by every Ray test.
"""

from __future__ import annotations

import os

import pytest

NODES = 3


@pytest.fixture(scope="session")
def ray_cluster():
    """A three-node local Ray cluster shared by every test of the session; shut down at the end."""
    if os.environ.get("CI") == "true":
        import ray  # in CI a missing Ray is a failure, not a skip
    else:
        ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from novel_engine.runtime.ray.connection import connect
    from serve_app.launcher import use_haproxy_ingress

    use_haproxy_ingress()  # the Serve tests run behind the ingress `novel-engine serve` uses
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for i in range(NODES - 1):
        cluster.add_node(num_cpus=1, resources={f"node{i + 2}": 1})
    cluster.wait_for_nodes()
    connect(address=cluster.address)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="session")
def ray_session(ray_cluster):
    """Ray, connected to the shared test cluster."""
    import ray

    return ray


@pytest.fixture
def scenario_dumps(monkeypatch):
    """How often a Scenario is turned into JSON (``model_dump_json``) and into dicts
    (``model_dump``) while the test runs, by method name."""
    from novel_engine.core.scenario import Scenario

    calls = {"model_dump_json": 0, "model_dump": 0}
    for name in calls:
        real = getattr(Scenario, name)

        def counting(self, *args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(Scenario, name, counting)
    return calls


@pytest.fixture
def story_after_a_fault(ray_session):
    """``run(session_id, fault, check=None, **settings)``: space_station (seed 7) on Ray with
    ``settings`` for two turns, then ``fault(session_id)`` (a shard killed, or set to die in the
    next turn), three more turns, and ``check(session_id)`` before the session closes; the story
    must be the undisturbed in-process one: every report, the narrative, the last event's
    explanation and the causal graph."""
    import json

    from novel_engine import Engine

    def run(session_id, fault, check=None, **settings):
        undisturbed = Engine().create_session("space_station", seed=7)
        undisturbed.run(5)
        s = Engine("ray").create_session("space_station", seed=7, session_id=session_id, **settings)
        try:
            s.run(2)
            fault(session_id)
            s.run(3)  # the lost shard fails a turn; the session is rebuilt from the store and goes on
            if check is not None:
                check(session_id)
            assert json.dumps([r.to_dict() for r in s.reports()], sort_keys=True) == json.dumps(
                [r.to_dict() for r in undisturbed.reports()], sort_keys=True
            )
            assert s.narrative() == undisturbed.narrative()
            last = s.events()[-1].id
            assert s.explain(last) == undisturbed.explain(last) and s.causal_graph() == undisturbed.causal_graph()
        finally:
            s.close()

    return run
