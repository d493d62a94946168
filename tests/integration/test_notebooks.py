"""The notebooks in notebooks/ run top to bottom, small, in a real Jupyter kernel, and are committed
with the outputs of a real run of the current engine (``make notebooks``).

Each notebook reads its sizes from ``NE_*`` environment variables; here they run with a few hundred
personas and three turns. The quickstart runs on Ray: its kernel starts its own private Ray instance
(``RAY_ADDRESS=local``, so it never joins another test's cluster or a developer's), and the test checks
that every process the kernel started is gone once the notebook has run and the kernel has shut down.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
TOOL = ROOT / "tools" / "run_notebooks.py"
QUICKSTART = NOTEBOOKS / "01_quickstart.ipynb"
LARGE_CAST = NOTEBOOKS / "02_large_cast.ipynb"


def need(module: str):
    # CI installs the test extra, so a missing module there is an error, not a skip (as in conftest)
    return __import__(module) if os.environ.get("CI") == "true" else pytest.importorskip(module)


def tool():
    """tools/run_notebooks.py, which `make notebooks` runs: the tests execute notebooks the same way."""
    spec = importlib.util.spec_from_file_location("run_notebooks", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def kernel(tmp_path_factory) -> tuple[str, dict[str, str]]:
    """A kernel spec that runs this interpreter (the venv's), and the environment to find it with."""
    need("ipykernel")
    return tool().kernel_for_this_python(tmp_path_factory.mktemp("jupyter"))


def run_notebook(path: Path, kernel, workdir: Path, **settings: str):
    """Execute ``path`` in a fresh kernel; return the executed notebook and the kernel's descendants.

    Raises nbclient's CellExecutionError (with the failing cell and traceback) if a cell fails.
    """
    need("nbformat")
    need("nbclient")
    psutil = need("psutil")
    need("matplotlib")
    descendants: dict[int, psutil.Process] = {}

    def remember_children(client):
        # after every cell: whatever the kernel has started so far (Ray's gcs_server, raylet, workers...)
        try:
            kernel_proc = psutil.Process(client.km.provisioner.pid)
            for p in kernel_proc.children(recursive=True):
                descendants.setdefault(p.pid, p)
        except (psutil.Error, AttributeError):
            pass

    nb, _ = tool().execute(path, kernel, workdir, settings, after_cell=remember_children, timeout=120)
    return nb, list(descendants.values())


def outputs(nb, key: str) -> list[str]:
    """Every output of the executed notebook with ``key``: a mime type, or "stream" for printed text."""
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if key == "stream" and o.output_type == "stream":
                out.append(o.text)
            elif key != "stream" and key in o.get("data", {}):
                out.append(o["data"][key])
    return out


def errors(nb) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for cell in nb.cells for o in cell.get("outputs", []) if o.output_type == "error"]


def wait_gone(procs, seconds: float) -> list:
    psutil = need("psutil")
    deadline = time.monotonic() + seconds
    alive = list(procs)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if alive:
            time.sleep(0.2)
    return alive


@pytest.mark.parametrize("path", [QUICKSTART, LARGE_CAST], ids=lambda p: p.stem)
def test_notebooks_are_committed_with_the_outputs_of_a_run_and_use_the_public_api(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    # executed top to bottom in one kernel, every cell, and none failed: what `make notebooks` saves
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1)), (
        f"{path.name} was not saved from one top-to-bottom run: run `make notebooks` and commit the result"
    )
    assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert len([o for c in code for o in c["outputs"] if "image/png" in o.get("data", {})]) >= 2  # the plots
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    source = "\n".join("".join(c["source"]) for c in code)
    imported = set(re.findall(r"^\s*(?:from|import)\s+(novel_engine[\w.]*)", source, re.M))
    assert imported and imported <= {"novel_engine", "novel_engine.scenarios"}, imported
    assert "ray.shutdown()" in source  # on Ray, leave nothing running (kernels shut down slowly otherwise)
    for var in ("NE_TURNS", "NE_RUNTIME"):
        assert f'os.environ.get("{var}"' in source


def test_the_committed_quickstart_tells_the_story_the_engine_tells_now():
    from novel_engine import Engine

    nb = json.loads(QUICKSTART.read_text(encoding="utf-8"))
    printed = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    turns, scenario, seed = re.search(r"(\d+) turns of '(\w+)' \(seed (\d+)\)", printed).groups()
    story = [
        "".join(o["data"]["text/markdown"])
        for c in nb["cells"]
        for o in c.get("outputs", [])
        if "text/markdown" in o.get("data", {}) and "".join(o["data"]["text/markdown"]).startswith("# ")
    ]
    session = Engine().create_session(scenario, seed=int(seed))
    session.run(int(turns))
    # stale outputs (the story engine changed since): run `make notebooks` and commit the notebooks
    assert story == [f"# {session.scenario.title}\n\n" + session.narrative()]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_quickstart_runs_on_ray_and_leaves_nothing_behind(kernel, tmp_path):
    psutil = need("psutil")
    nb, started = run_notebook(QUICKSTART, kernel, tmp_path, NE_RUNTIME="ray", NE_TURNS="3", RAY_ADDRESS="local")
    assert not errors(nb)
    printed = "".join(outputs(nb, "stream"))
    assert "on the 'ray' runtime" in printed
    assert "turn 3:" in printed and "turn 4:" not in printed
    assert re.search(r"closed [0-9a-f]{12}", printed)
    markdown = outputs(nb, "text/markdown")
    story = [m for m in markdown if m.startswith("# The Wyrm of Harrowmere")]
    assert story and len(story[0]) > 500, "the story is missing or empty"
    assert any("| `fantasy_world` |" in m for m in markdown)  # the built-ins table
    assert any("| key | believed value | credence" in m for m in markdown)  # one persona's beliefs
    assert any("Why did this happen?" in m for m in markdown)  # the explained event
    assert len(outputs(nb, "image/png")) >= 2  # tension curve, causal graph
    # the kernel started its own Ray; the last cell (session.close(), ray.shutdown()) and the kernel's
    # exit must leave no process behind
    assert started, "the kernel started no Ray processes: did it join another cluster?"
    leftover = wait_gone(started, 30)
    for p in leftover:  # do not leak them into the rest of the run, then fail
        try:
            p.kill()
        except psutil.Error:
            pass
    assert not leftover, f"processes the notebook's kernel started are still running: {leftover}"


@pytest.mark.timeout(180)
def test_large_cast_runs_small_in_process(kernel, tmp_path):
    nb, started = run_notebook(
        LARGE_CAST,
        kernel,
        tmp_path,
        NE_RUNTIME="local",
        NE_PERSONAS="300",
        NE_TURNS="3",
        NE_SAMPLE="100",
    )
    assert not errors(nb)
    printed = "".join(outputs(nb, "stream"))
    assert "300 personas, 3 turns, 'local' runtime" in printed
    assert "turn 3:" in printed and "turn 4:" not in printed
    assert re.search(r"closed [0-9a-f]{12}", printed)
    for phase in ("perceive", "believe", "brief", "decide", "resolve", "narrate", "commit"):
        assert re.search(rf"^{phase}\s+\d+\.\d+ s", printed, re.M), f"no time for phase {phase}"
    assert len(outputs(nb, "image/png")) >= 2  # timings, belief spread
    spread = [m for m in outputs(nb, "text/markdown") if "`alert_level`" in m]
    assert spread, "no belief-spread table"
    # the public broadcast reaches the whole (sampled) cast in the first turn
    header, _, *rows = spread[0].splitlines()
    col = [c.strip() for c in header.strip("|").split("|")].index("`alert_level`")
    assert [r.strip("|").split("|")[col].strip() for r in rows] == ["100 %"] * 3
    assert not wait_gone(started, 30)
