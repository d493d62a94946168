"""Connecting to Ray: a local instance that cannot start is the engine's own, clear error."""

from __future__ import annotations

import pytest


def test_a_local_ray_instance_that_fails_to_start_is_a_clear_error(monkeypatch):
    """Ray reports a node that timed out during startup with a bare Exception: the engine says what
    failed and why it may have (a busy machine), in its own error, not a traceback."""
    import ray

    from novel_engine.errors import NovelEngineError
    from novel_engine.runtime.ray import connection

    def timed_out(**_kw):
        raise Exception("The current node timed out during startup.")  # noqa: TRY002 - what Ray raises

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", timed_out)
    with pytest.raises(NovelEngineError, match="could not start a local Ray instance: The current node timed out"):
        connection.connect("local")
    with pytest.raises(Exception, match="timed out") as err:  # a given cluster's own error stays Ray's
        connection.connect("ray://10.0.0.1:10001")
    assert not isinstance(err.value, NovelEngineError)
