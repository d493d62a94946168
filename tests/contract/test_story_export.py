"""`novel-engine run --out s3://bucket/key`: the story a headless RayJob writes lands in the object store.

Runs the CLI in process with the local runtime (no Ray) against the moto S3 server of the contract
suite; the object must hold exactly the bytes a local ``--out`` file gets.
"""

from __future__ import annotations

import uuid

import pytest

from novel_engine.cli import main
from novel_engine.errors import ConfigError
from novel_engine.storage.exports import check_target, is_object_url, write_export

BUCKET = "novel-engine-test"


def _run(capsys, *extra: str) -> int:
    code = main(
        ["run", "noir_city", "--turns", "2", "--seed", "3", "--runtime", "local", "--no-store", "--quiet", *extra]
    )
    capsys.readouterr()
    return code


def test_out_s3_url_uploads_the_same_story_as_a_local_file(s3_endpoint, tmp_path, capsys, monkeypatch):
    import boto3

    monkeypatch.setenv("NOVEL_ENGINE_S3_ENDPOINT", s3_endpoint)
    key = f"stories/{uuid.uuid4().hex[:8]}/noir.md"
    assert _run(capsys, "--out", str(tmp_path / "noir.md")) == 0
    assert _run(capsys, "--out", f"s3://{BUCKET}/{key}", "--events", f"s3://{BUCKET}/{key}.jsonl") == 0
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    story = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode("utf-8")
    assert story == (tmp_path / "noir.md").read_text(encoding="utf-8")
    assert story.startswith("# Rain on Gutter Lane")
    events = s3.get_object(Bucket=BUCKET, Key=f"{key}.jsonl")["Body"].read().decode("utf-8").splitlines()
    assert events and all(line.startswith("{") for line in events)


def test_missing_bucket_is_a_clean_error(s3_endpoint, capsys, monkeypatch):
    monkeypatch.setenv("NOVEL_ENGINE_S3_ENDPOINT", s3_endpoint)
    code = main(
        [
            "run",
            "noir_city",
            "--turns",
            "1",
            "--runtime",
            "local",
            "--no-store",
            "--quiet",
            "--out",
            "s3://no-such-bucket-here/story.md",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "no-such-bucket-here" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "url, problem",
    [
        ("s3://", "names no bucket"),
        ("s3://bucket", "names no object key"),
        ("s3://bucket/folder/", "names no object key"),
    ],
)
def test_malformed_urls_fail_before_the_story_runs(url, problem, capsys):
    code = main(["run", "noir_city", "--turns", "1", "--runtime", "local", "--no-store", "--out", url])
    captured = capsys.readouterr()
    assert code == 2
    assert problem in captured.err and "--out" in captured.err
    assert "## Turn" not in captured.out  # nothing ran
    with pytest.raises(ConfigError, match=problem):
        check_target(url)


def test_paths_and_memory_urls(tmp_path):
    import fsspec

    assert not is_object_url(tmp_path / "a.md") and is_object_url("s3://b/k") and is_object_url("memory://m/k")
    assert write_export(tmp_path / "a.md", "héllo") == str(tmp_path / "a.md")
    assert (tmp_path / "a.md").read_text(encoding="utf-8") == "héllo"
    name = f"export-{uuid.uuid4().hex[:8]}"
    write_export(f"memory://{name}/x/story.md", "tale", env={})
    assert fsspec.filesystem("memory").cat_file(f"{name}/x/story.md") == b"tale"


def test_write_export_from_inside_a_running_event_loop(monkeypatch):
    """A notebook cell or a Serve replica already runs a loop: the upload runs on a private one,
    and its errors reach the caller."""
    import asyncio

    import fsspec

    from novel_engine.errors import StoreError
    from novel_engine.storage import exports

    name = f"export-{uuid.uuid4().hex[:8]}"

    async def inside() -> str:
        return write_export(f"memory://{name}/story.md", "from a loop", env={})

    assert asyncio.run(inside()) == f"memory://{name}/story.md"
    assert fsspec.filesystem("memory").cat_file(f"{name}/story.md") == b"from a loop"

    async def refuse(self, key, data):
        raise StoreError(f"refused {key}", backend="object_store")

    monkeypatch.setattr(exports.ObjectStore, "put", refuse)
    with pytest.raises(StoreError, match="refused story.md"):
        asyncio.run(inside())
