"""``novel-engine bench store``: the state store's turn commits per second and p99 commit latency on
each backend, for a 100- and a 10,000-persona session, and the Parquet archive write speed.

The commits are real: a synthetic session plays a few turns in this process, and its turn commits
(record with inputs, events, checkpoint when due by ``checkpoint_every``) are committed again and
again, renumbered, to a fresh session of each backend through the same ``StoreRunner`` path the
engine uses. Archiving is off while commits are timed (``archive_every=0``) and measured on its own
afterwards: one ``archive()`` of every committed event (read from SQL, Parquet encode, object
write, record and trim). Backends:

- ``embedded``: SQLite file plus a local folder (no server);
- ``postgresql``: PostgreSQL plus Redis (``--postgres-url``, ``--redis-url``), large checkpoints
  in a local folder;
- ``s3``: SQLite plus an S3 object store served by moto on loopback (started here, if moto is
  installed), so large checkpoints and archives go through s3fs.

Checkpoint capture and encode times of each cast size are reported too.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from novel_engine.benchmarks import write_results
from novel_engine.cli_support import seed_arg

__all__ = ["add_bench_parser", "cmd_bench_store", "bench_store", "make_payloads", "measure_backend"]

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def make_payloads(personas: int, turns: int, seed: int) -> dict[str, Any]:
    """Play ``turns`` turns of a synthetic cast; return their commits and the checkpoint figures."""
    from novel_engine.api import Engine
    from novel_engine.runtime.checkpoint import encode
    from novel_engine.runtime.durability import turn_commit, turn_inputs
    from novel_engine.scenarios.synthetic import synthetic
    from novel_engine.storage.settings import auto_checkpoint_every

    session = Engine().create_session(synthetic(personas=personas, seed=seed), seed=seed)
    commits, captures, encodes, blob = [], [], [], b""
    for _ in range(turns):
        report = session.step()
        t0 = time.perf_counter()
        state = session._sync(session._rt.state())
        t1 = time.perf_counter()
        blob = encode(state)
        captures.append(t1 - t0)
        encodes.append(time.perf_counter() - t1)
        commits.append(turn_commit(report, turn_inputs({}, []), blob))
    return {
        "commits": commits,
        "checkpoint_every": auto_checkpoint_every(personas),
        "checkpoint_bytes": len(blob),
        "capture_s": round(min(captures), 3),
        "encode_s": round(min(encodes), 3),
        "events_per_turn": round(sum(len(c.events) for c in commits) / len(commits), 1),
    }


def _pct(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` percentile."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(round(q * len(s) + 0.5)) - 1))]


def measure_backend(name: str, settings: Any, payloads: dict[str, Any], commits: int) -> dict[str, Any]:
    """Commit ``commits`` turns to a new session on ``settings``; then archive them; return figures."""
    from novel_engine.storage import SessionRecord, StoreRunner, TurnCommit, open_store
    from novel_engine.storage.archive import table_from_json, to_parquet

    settings = replace(settings, archive_every=0)
    sid = f"bench-{uuid.uuid4().hex[:12]}"
    every, base = payloads["checkpoint_every"], payloads["commits"]
    latencies = []
    with StoreRunner(open_store(settings)) as runner:
        try:
            runner.call(lambda st: st.create_session(SessionRecord(id=sid, scenario={}, settings={}, seed=1)))
            version = 0
            start = time.perf_counter()
            for turn in range(1, commits + 1):
                c = base[(turn - 1) % len(base)]
                commit = TurnCommit(
                    turn, {**c.record, "turn": turn}, c.events, c.checkpoint if turn % every == 0 else None
                )
                t = time.perf_counter()
                version = runner.call(lambda st, c=commit, v=version: st.commit_turn(sid, v, c)).version
                latencies.append(time.perf_counter() - t)
            total = time.perf_counter() - start
            events = runner.call(lambda st: st.sql.event_rows(sid))  # (seq, turn, JSON text)
            raw_mb = sum(len(d.encode("utf-8")) for _, _, d in events) / 2**20
            to_parquet(table_from_json(events[:10]))  # warm-up: pyarrow's first call loads its codecs
            t = time.perf_counter()
            to_parquet(table_from_json(events))  # what archive() does between reading SQL and writing
            encode_s = time.perf_counter() - t
            t = time.perf_counter()
            key = runner.call(lambda st: st.archive(sid))
            archive_s = time.perf_counter() - t
            size = len(runner.call(lambda st: st.get_object(key)))
        finally:
            runner.call(lambda st: _drop(st, sid))
    mb = size / 2**20
    return {
        "backend": name,
        "commits": commits,
        "checkpoint_every": every,
        "commits_per_s": round(commits / total, 2),
        "events_per_s": round(len(events) / total, 1),
        "p50_commit_ms": round(_pct(latencies, 0.50) * 1000, 2),
        "p99_commit_ms": round(_pct(latencies, 0.99) * 1000, 2),
        "max_commit_ms": round(max(latencies) * 1000, 2),
        "archive_events": len(events),
        "archive_mb": round(mb, 3),
        "archive_input_mb": round(raw_mb, 3),
        "archive_s": round(archive_s, 3),
        "archive_mb_per_s": round(mb / archive_s, 2),
        "archive_input_mb_per_s": round(raw_mb / archive_s, 2),
        "parquet_encode_input_mb_per_s": round(raw_mb / encode_s, 2),
    }


async def _drop(store: Any, sid: str) -> None:
    """Delete a benchmark session's rows (the PostgreSQL database is shared with other work)."""
    async with store.sql.transaction() as tx:
        for table in ("event_archives", "checkpoints", "events", "turns", "session_bodies"):
            await tx.execute(f"DELETE FROM {table} WHERE session_id = $1", sid)
        await tx.execute("DELETE FROM sessions WHERE id = $1", sid)
    store.sql.forget(sid)


def _moto() -> tuple[Any, str] | None:
    """A moto S3 server on loopback with a bucket, or None when moto is not installed."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        return None
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log lines among the figures
    for k, v in (
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(k, v)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="novel-engine-bench")
    return server, endpoint


def bench_store(
    sizes: list[int],
    backends: list[str],
    commits: int = 0,
    seed: int = 1,
    postgres_url: str = DEFAULT_PG,
    redis_url: str = DEFAULT_REDIS,
    out: str | os.PathLike = "bench-results/store.json",
) -> dict[str, Any]:
    """Measure every backend at every cast size; print a table, write JSON to ``out``.

    ``commits`` 0 picks 100 commits for casts up to 1,000 personas and 20 above.
    """
    from novel_engine.storage import StoreSettings

    rows, skipped, moto = [], {}, None
    with tempfile.TemporaryDirectory(prefix="ne-bench-store-") as tmp:
        if "s3" in backends:
            moto = _moto()
            if moto is None:
                skipped["s3"] = "moto is not installed (pip install 'novel-engine[test]')"
        try:
            for n in sizes:
                p = make_payloads(n, 3, seed)
                print(
                    f"{n:>8} personas: {p['events_per_turn']:.0f} events/turn, checkpoint {p['checkpoint_bytes'] / 2**20:.2f}"
                    f" MiB (capture {p['capture_s']:.3f} s + encode {p['encode_s']:.3f} s), every "
                    f"{p['checkpoint_every']} turns",
                    flush=True,
                )
                k = commits or (100 if n <= 1000 else 20)
                for b in backends:
                    folder = Path(tmp) / f"{b}-{n}"
                    local = StoreSettings.embedded(folder)
                    if b == "embedded":
                        s = local
                    elif b == "postgresql":
                        s = StoreSettings(
                            database_url=postgres_url, redis_url=redis_url, object_store_url=local.object_store_url
                        )
                    elif b == "s3":
                        if moto is None:
                            continue
                        s = StoreSettings(
                            database_url=local.database_url,
                            s3_endpoint=moto[1],
                            object_store_url=f"s3://novel-engine-bench/{uuid.uuid4().hex[:8]}",
                        )
                    else:
                        raise ValueError(f"unknown backend {b!r}; available: embedded, postgresql, s3")
                    row = measure_backend(b, s.validated(), p, k)
                    row.update(
                        personas=n,
                        events_per_turn=p["events_per_turn"],
                        checkpoint_bytes=p["checkpoint_bytes"],
                        checkpoint_capture_s=p["capture_s"],
                        checkpoint_encode_s=p["encode_s"],
                    )
                    rows.append(row)
                    print(
                        f"{b:>10} {n:>6}: {row['commits_per_s']:8.2f} commits/s  p50 {row['p50_commit_ms']:8.2f} ms  "
                        f"p99 {row['p99_commit_ms']:8.2f} ms  | archive {row['archive_input_mb']:.1f} MB of events "
                        f"-> {row['archive_mb']:.2f} MB Parquet in {row['archive_s']:.2f} s: "
                        f"{row['archive_input_mb_per_s']:.1f} MB/s in, {row['archive_mb_per_s']:.2f} MB/s written "
                        f"(encode alone {row['parquet_encode_input_mb_per_s']:.1f} MB/s in)",
                        flush=True,
                    )
        finally:
            if moto is not None:
                moto[0].stop()
    result = {
        "suite": "store",
        "seed": seed,
        "cpu_count": os.cpu_count(),
        "skipped": skipped,
        "results": rows,
        "notes": "commits timed with archiving off; archive = one archive() of every committed event "
        "(SQL read, Parquet encode, object write, record and trim); *_input_mb = the events as JSON, "
        "archive_mb = the Parquet written; p99 is nearest-rank over the commits of each row",
    }
    for b, why in skipped.items():
        print(f"skipped {b}: {why}")
    write_results(result, out)
    return result


def add_bench_parser(bench_sub: Any) -> None:
    """Add ``bench store`` to the ``bench`` subcommands."""
    p = bench_sub.add_parser(
        "store", help="state-store turn commits per second, p99 commit latency, Parquet archive speed"
    )
    p.add_argument("--personas", default="100,10000", help="comma-separated cast sizes")
    p.add_argument("--backends", default="embedded,postgresql,s3", help="comma-separated: embedded, postgresql, s3")
    p.add_argument(
        "--commits", type=int, default=0, help="commits per backend and size (0: 100, or 20 above 1,000 personas)"
    )
    p.add_argument("--seed", type=seed_arg, default=1)
    p.add_argument("--postgres-url", default=os.environ.get("NOVEL_ENGINE_BENCH_POSTGRES_URL", DEFAULT_PG))
    p.add_argument("--redis-url", default=os.environ.get("NOVEL_ENGINE_BENCH_REDIS_URL", DEFAULT_REDIS))
    p.add_argument("--out", default="bench-results/store.json", help="where to write the JSON figures")


def cmd_bench_store(args: argparse.Namespace) -> int:
    """Run ``bench store`` from parsed arguments."""
    from novel_engine.errors import NovelEngineError

    try:
        sizes = [int(x) for x in args.personas.split(",") if x.strip()]
    except ValueError:
        raise NovelEngineError(f"--personas: expected comma-separated whole numbers, got {args.personas!r}") from None
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - {"embedded", "postgresql", "s3"})
    if not sizes or min(sizes) < 1 or unknown or args.commits < 0:
        raise NovelEngineError(
            "bench store: give cast sizes of 1 or more, backends among embedded, postgresql, s3"
            f"{' (unknown: ' + ', '.join(unknown) + ')' if unknown else ''}, and --commits >= 0"
        )
    bench_store(
        sizes,
        backends,
        commits=args.commits,
        seed=args.seed,
        postgres_url=args.postgres_url,
        redis_url=args.redis_url,
        out=args.out,
    )
    return 0
