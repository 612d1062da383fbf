"""The dashboard's typed client is generated from the OpenAPI document the API serves now.

``dashboard/src/api/schema.d.ts`` is what ``openapi-typescript`` (the dashboard's own
dev dependency, as ``npm run gen:api`` runs it) makes of ``/openapi.json``. A change to the
API without regenerating it leaves the dashboard typed against an API that no longer is.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from api.openapi import openapi_document
from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "dashboard" / "node_modules" / ".bin" / "openapi-typescript"
CLIENT_SCHEMA = ROOT / "dashboard" / "src" / "api" / "schema.d.ts"
REGENERATE = (
    "headrace openapi --output /tmp/openapi.json && "
    "(cd dashboard && npx openapi-typescript /tmp/openapi.json -o src/api/schema.d.ts)"
)


class TestDashboardClient:
    def test_schema_d_ts_matches_the_current_openapi(self, tmp_path: Path) -> None:
        """Regenerating the client from the current document changes nothing."""
        if not GENERATOR.exists():
            unavailable("openapi-typescript", "dashboard/node_modules is not installed")
        document = tmp_path / "openapi.json"
        document.write_text(json.dumps(openapi_document(), indent=2, ensure_ascii=False))
        generated = tmp_path / "schema.d.ts"
        subprocess.run(
            [str(GENERATOR), str(document), "-o", str(generated)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        assert generated.read_text() == CLIENT_SCHEMA.read_text(), (
            f"dashboard/src/api/schema.d.ts is out of date; regenerate it: {REGENERATE}"
        )
