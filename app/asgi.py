"""ASGI entry point for uvicorn: settings come from the environment."""

from app.main import create_app

app = create_app(settle_gc=True)
