"""ASGI entry point for uvicorn: settings come from the environment."""

import gc

# Importing and building the app makes ~140,000 objects and almost no garbage (~700 unreachable
# objects): the collector's passes over them were ~0.3 s of a restart. It stays off until the
# lifespan has started and freezes what start-up built (app.main._settle_garbage_collector).
gc.disable()

from app.main import create_app  # noqa: E402

app = create_app(settle_gc=True)
