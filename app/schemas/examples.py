"""The example values that depend on the generated population: PINs, names, birth dates, the
CMND, phone and e-mail of the default deployment's people (seed 6, 10,000 people).

The OpenAPI examples (the schemas, :mod:`app.openapi_examples`) and the HTTP collection
(:mod:`app.services.sandbox.collection`) read them from ``examples.json``, which
``dancu export-collection --refresh-examples`` rewrites from a fresh default deployment
(:mod:`app.services.sandbox.examples` says who is picked for what); a test checks the file is in
step with the population.
"""

from __future__ import annotations

import json
from pathlib import Path

PATH = Path(__file__).with_name("examples.json")
EXAMPLES: dict[str, str] = json.loads(PATH.read_text("utf-8"))
