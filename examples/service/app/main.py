"""Example FastAPI service used to exercise service-infra deployments.

Compatible with current FastAPI and with Debian bookworm's python3-fastapi (0.92,
pydantic v1): it uses no pydantic-specific API, only plain dicts and Starlette responses.

Settings come from the environment when the app is created:

- ``APP_ENV``          deployment environment name (default ``local``)
- ``APP_VERSION``      version reported by the health endpoints (default ``dev``)
- ``ALLOWED_ORIGINS``  comma-separated CORS origins (stripped, empty entries dropped)
- ``DATA_DIR``         directory holding the SQLite cache ``cache.sqlite3`` (default ``/data``)

Run with ``uvicorn app.main:app --host 0.0.0.0 --port 8000``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse

CACHE_FILE_NAME = "cache.sqlite3"


class Settings:
    """Plain settings object (deliberately not a pydantic model)."""

    def __init__(self, app_env: str, app_version: str, allowed_origins: list[str], data_dir: Path):
        self.app_env = app_env
        self.app_version = app_version
        self.allowed_origins = allowed_origins
        self.data_dir = data_dir

    @property
    def cache_path(self) -> Path:
        return self.data_dir / CACHE_FILE_NAME


def parse_origins(raw: str | None) -> list[str]:
    """Split a comma-separated list, strip entries and drop empty ones."""
    if not raw:
        return []
    return [part.strip() for part in raw.split(",") if part.strip()]


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    return Settings(
        app_env=env.get("APP_ENV") or "local",
        app_version=env.get("APP_VERSION") or "dev",
        allowed_origins=parse_origins(env.get("ALLOWED_ORIGINS")),
        data_dir=Path(env.get("DATA_DIR") or "/data"),
    )


class Cache:
    """A tiny key/value store in SQLite; one connection per operation (thread-safe)."""

    def __init__(self, path: Path):
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=10)
        conn.execute("CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        return conn

    def get(self, key: str) -> str | None:
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT value FROM cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put(self, key: str, value: str) -> None:
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "INSERT INTO cache (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    cache = Cache(settings.cache_path)
    app = FastAPI(title="example-service", version=settings.app_version)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_methods=["GET", "POST"],
        allow_headers=["*"],
    )
    app.state.settings = settings

    def health_payload() -> dict[str, str]:
        return {"status": "ok", "env": settings.app_env, "version": settings.app_version}

    @app.get("/health")
    def health() -> JSONResponse:
        return JSONResponse(health_payload())

    @app.get("/api/health")
    def api_health() -> JSONResponse:
        return JSONResponse(health_payload())

    @app.get("/")
    def root() -> JSONResponse:
        return JSONResponse(
            {
                "env": settings.app_env,
                "version": settings.app_version,
                "allowed_origins": settings.allowed_origins,
            }
        )

    @app.get("/api/cache/{key}")
    def cache_get(key: str):
        value = cache.get(key)
        if value is None:
            return JSONResponse({"detail": "not found", "key": key}, status_code=404)
        return PlainTextResponse(value)

    @app.post("/api/cache/{key}")
    async def cache_put(key: str, request: Request) -> JSONResponse:
        body = await request.body()
        cache.put(key, body.decode("utf-8", errors="replace"))
        return JSONResponse({"stored": key, "bytes": len(body)})

    return app


app = create_app()
