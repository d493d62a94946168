"""Execute the notebooks in notebooks/ top to bottom in a real Jupyter kernel and save them with their
outputs (``make notebooks``), so they read well where they are shown (GitHub, a docs site).

    .venv/bin/python tools/run_notebooks.py [notebooks/01_quickstart.ipynb ...] [--env NE_TURNS=8 ...]

Each notebook reads its sizes from ``NE_*`` variables (see its Settings cell); ``--env`` sets them for
the run. The kernel is this interpreter (the venv's), whatever ``python3`` kernel Jupyter would find;
the saved notebook names the usual ``python3`` kernel. Cell timings are not recorded, so executing
twice changes only what the story engine changed. ``tests/integration/test_notebooks.py`` executes
the notebooks the same way (``execute`` below) and checks the committed outputs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: how the committed outputs are made: the notebooks' own sizes, in process (the same stories as on Ray,
#: byte for byte, without Ray's start-up log in the outputs); ``--env NE_RUNTIME=ray`` runs them on a
#: private Ray instance (RAY_ADDRESS=local: never one already running here)
COMMITTED_ENV = {"NE_RUNTIME": "local", "RAY_ADDRESS": "local", "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}


def kernel_for_this_python(folder: Path) -> tuple[str, dict[str, str]]:
    """A kernel name that runs ``sys.executable``, and the environment Jupyter must see to find it.

    ipykernel's own ``python3`` spec runs ``python``, which jupyter_client replaces with
    ``sys.executable``; a ``python3`` spec found elsewhere may run another interpreter, so then a spec
    of our own goes in ``folder``, put first on JUPYTER_PATH.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_PATH"}
    try:
        argv0 = KernelSpecManager().get_kernel_spec("python3").argv[0]
    except NoSuchKernel:
        argv0 = None
    this_python = {"python", f"python{sys.version_info[0]}", f"python{sys.version_info[0]}.{sys.version_info[1]}"}
    if argv0 in this_python or (argv0 and os.path.abspath(argv0) == os.path.abspath(sys.executable)):
        return "python3", env
    spec_dir = folder / "kernels" / "novel-engine-venv"
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (novel-engine venv)",
                "language": "python",
            }
        )
    )
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(folder), os.environ.get("JUPYTER_PATH")]))
    return "novel-engine-venv", env


def execute(
    path: Path,
    kernel: tuple[str, Mapping[str, str]],
    workdir: Path,
    settings: Mapping[str, str],
    after_cell: Callable[[Any], Any] | None = None,
    timeout: int = 600,
) -> tuple[Any, Any]:
    """Run ``path`` in a fresh kernel; return the executed notebook and the nbclient client.

    ``after_cell(client)`` runs after every cell (the tests look at the kernel's processes there).

    Raises nbclient's CellExecutionError (naming the failing cell, with its traceback) if a cell fails.
    """
    import nbclient
    import nbformat

    name, base_env = kernel
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=name,
        timeout=timeout,
        startup_timeout=60,
        record_timing=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    if after_cell is not None:
        client.on_cell_executed = lambda **_: after_cell(client)
    client.execute(env={**base_env, **COMMITTED_ENV, **settings})
    # the saved notebook names the standard kernel, whichever spec ran it here
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata.get("language_info", {}).pop("version", None)  # the build's patch level: noise in diffs
    nb.metadata["novel_engine"] = {
        "executed_by": "tools/run_notebooks.py",
        "settings": {k: v for k, v in {**COMMITTED_ENV, **settings}.items() if k.startswith("NE_")},
    }
    return nb, client


def main(argv: list[str] | None = None) -> int:
    import nbformat

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("notebooks", nargs="*", type=Path, default=NOTEBOOKS)
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="a setting, e.g. NE_TURNS=8")
    args = p.parse_args(argv)
    settings = dict(item.split("=", 1) for item in args.env)
    with tempfile.TemporaryDirectory(prefix="novel-engine-notebooks-") as tmp:
        kernel = kernel_for_this_python(Path(tmp) / "jupyter")
        for path in args.notebooks:
            print(f"executing {path} ...", file=sys.stderr, flush=True)
            nb, _ = execute(path, kernel, Path(tmp), settings)
            nbformat.write(nb, path)
            print(f"saved {path} with its outputs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
