"""ASGI entry point for uvicorn: settings come from the environment."""

import gc

# Importing and building the app makes ~140,000 objects and almost no garbage (~700 unreachable
# objects): the collector's passes over them were ~0.3 s of a restart at load. It stays off until
# the lifespan freezes them and turns it on (app.main._freeze_imports).
gc.disable()

from app.main import create_app  # noqa: E402

app = create_app(settle_gc=True)
