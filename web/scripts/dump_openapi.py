"""Write the Serve app's OpenAPI schema to a file (``make web`` turns it into ``web/src/api/schema.d.ts``).

Usage: ``python web/scripts/dump_openapi.py OUT.json``. Builds the FastAPI app without starting Ray
or a store, so it runs anywhere the package is installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: dump_openapi.py OUT.json", file=sys.stderr)
        return 2
    from serve_app.app import create_app

    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(create_app().openapi(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
