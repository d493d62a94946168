"""compose.yaml and the README's settings for it agree: the URLs the README exports reach the
services compose starts, with the credentials and names compose gives them."""

from __future__ import annotations

import re
import shlex
from urllib.parse import urlsplit

import deploy_checks as dc
import yaml


def compose() -> dict:
    return yaml.safe_load((dc.ROOT / "compose.yaml").read_text(encoding="utf-8"))


def readme_exports(text: str | None = None) -> dict[str, str]:
    """Every `export NAME=value ...` of the README's fenced bash blocks."""
    text = text if text is not None else (dc.ROOT / "README.md").read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["export"]:
                found.update(w.split("=", 1) for w in words[1:] if "=" in w)
    return found


def host_port(service: dict, container_port: int) -> tuple[str, int]:
    for mapping in service["ports"]:
        host, published, target = mapping.split(":")
        if int(target) == container_port:
            return host, int(published)
    raise AssertionError(f"port {container_port} is not published")


def problems(services: dict, env: dict[str, str]) -> list[str]:
    out = []
    pg = urlsplit(env["NOVEL_ENGINE_DATABASE_URL"])
    pg_env = services["postgres"]["environment"]
    if (pg.username, pg.password, pg.path.lstrip("/")) != (
        pg_env["POSTGRES_USER"],
        pg_env["POSTGRES_PASSWORD"],
        pg_env["POSTGRES_DB"],
    ):
        out.append("the database URL does not use compose's PostgreSQL user, password and database")
    if (pg.hostname, pg.port) != host_port(services["postgres"], 5432):
        out.append("the database URL does not reach compose's PostgreSQL port")
    redis = urlsplit(env["NOVEL_ENGINE_REDIS_URL"])
    if (redis.hostname, redis.port) != host_port(services["redis"], 6379):
        out.append("the Redis URL does not reach compose's Redis port")
    s3 = urlsplit(env["NOVEL_ENGINE_S3_ENDPOINT"])
    if (s3.hostname, s3.port) != host_port(services["minio"], 9000):
        out.append("the S3 endpoint does not reach compose's MinIO port")
    minio_env = services["minio"]["environment"]
    if (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) != (
        minio_env["MINIO_ROOT_USER"],
        minio_env["MINIO_ROOT_PASSWORD"],
    ):
        out.append("the AWS keys are not MinIO's")
    bucket = urlsplit(env["NOVEL_ENGINE_OBJECT_STORE_URL"]).hostname
    if f"local/{bucket}" not in services["minio-bucket"]["command"][0]:
        out.append(f"compose does not make the bucket {bucket!r}")
    return out


def test_the_readme_settings_reach_the_compose_services():
    assert problems(compose()["services"], readme_exports()) == []


def test_a_mismatch_is_caught():
    env = readme_exports()
    services = compose()["services"]
    env["NOVEL_ENGINE_DATABASE_URL"] = env["NOVEL_ENGINE_DATABASE_URL"].replace(":5432", ":5433")
    env["NOVEL_ENGINE_OBJECT_STORE_URL"] = "s3://other-bucket/stories"
    assert problems(services, env) == [
        "the database URL does not reach compose's PostgreSQL port",
        "compose does not make the bucket 'other-bucket'",
    ]


def test_services_listen_on_loopback_only():
    for name, service in compose()["services"].items():
        for mapping in service.get("ports", []):
            assert mapping.startswith("127.0.0.1:"), f"{name} publishes {mapping} beyond loopback"
