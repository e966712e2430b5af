"""The HTTP API: FastAPI for the documented routes, a lean ASGI path for scoring.

Routes::

    POST /predict       {"records": [{...}, ...]} -> predictions, probabilities, model, request_id
    POST /invocations   what ``mlflow models serve`` and SageMaker send: text/csv with
                        a header, or JSON with records (as /predict), dataframe_split,
                        dataframe_records, instances or inputs
                        -> {"predictions": [...]}; errors as {"error_code", "message"}
    GET  /health        the process is alive; the champion's version (and the alias
                        followed, with its swaps)
    GET  /ready         the models are loaded and warmed (503 until then), log health
    GET  /ping          200 once ready, else 503 (the probe SageMaker and others send)
    GET  /metadata      schema, metrics, version, engine, arms, limits
    GET  /metrics       Prometheus text
    GET  /docs          Swagger UI, served from the package (no network needed)

``/predict`` and ``/invocations`` are answered by the ASGI layer of
:mod:`cairn.serving._asgi` in front of the FastAPI router (limits, API key,
parsing); the models behind them live in :mod:`cairn.serving._service`. The
OpenAPI document still describes them, with the request model generated from
the model's schema (:mod:`cairn.serving._openapi`).
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson

from cairn.exceptions import ServingError
from cairn.serving._asgi import JSON_OPTIONS, FastPath
from cairn.serving._follow import AliasFollower
from cairn.serving._openapi import error_responses, openapi_paths
from cairn.serving._recommend import ServedRecommender
from cairn.serving._service import Arm, Service, ServingConfig
from cairn.serving.engine import ServedModel, load_served_model
from cairn.serving.log import log_display
from cairn.serving.metrics import CONTENT_TYPE

__all__ = ["Arm", "ServingConfig", "create_app"]

Served = ServedModel | ServedRecommender

#: Swagger UI's files, shipped by the fastapi-offline package.
_DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}


def create_app(
    champion: Served | str | Path,
    *,
    challenger: Served | str | Path | None = None,
    split: float = 0.1,
    shadow: Served | str | Path | None = None,
    config: ServingConfig | None = None,
    tracking_uri: str | None = None,
    engine: str = "auto",
    follow: AliasFollower | None = None,
) -> Any:
    """A FastAPI app serving ``champion`` (and optionally A/B and shadow models).

    Args:
        champion: bundle folder, registry URI or loaded model.
        challenger: gets ``split`` of the traffic (per request, or per entity
            when ``config.entity_key`` is set).
        split: the challenger's share, in [0, 1].
        shadow: scored on every request after the answer is sent; logged only.
        config: limits, API key, entity key and log file.
        tracking_uri: MLflow store for registry URIs.
        engine: "auto", "onnx" or "native".
        follow: swaps the champion for the version its registry alias
            points at whenever the alias moves (see :mod:`cairn.serving._follow`).

    Raises:
        ServingError: a bad split, or a model that cannot be loaded.
    """
    config = config or ServingConfig()
    service = _service(champion, challenger, split, shadow, config, tracking_uri, engine)
    service.follower = follow
    app = _fastapi_app(service)
    _add_probe_routes(app, service)
    _add_info_routes(app, service)
    _install_openapi(app, service)
    if config.docs:
        _add_docs_routes(app)
    app.add_middleware(FastPath, service=service)
    return app


def _served(model: Served | str | Path, tracking_uri: str | None, engine: str) -> Served:
    if isinstance(model, ServedModel | ServedRecommender):
        return model
    return load_served_model(model, tracking_uri=tracking_uri, engine=engine)


def _service(
    champion: Served | str | Path,
    challenger: Served | str | Path | None,
    split: float,
    shadow: Served | str | Path | None,
    config: ServingConfig,
    tracking_uri: str | None,
    engine: str,
) -> Service:
    """The arms, loaded and checked against the split and the entity key."""
    if challenger is not None and not 0.0 <= split <= 1.0:
        raise ServingError(f"--split {split} is not a share between 0 and 1")
    arms = [Arm("champion", _served(champion, tracking_uri, engine), 1.0)]
    if challenger is not None:
        arms[0].share = 1.0 - split
        arms.append(Arm("challenger", _served(challenger, tracking_uri, engine), split))
    shadow_arm = Arm("shadow", _served(shadow, tracking_uri, engine), 0.0) if shadow else None
    _same_kind(arms, shadow_arm)
    if config.entity_key is not None and config.entity_key not in arms[0].model.schema:
        raise ServingError(
            f"entity key {config.entity_key!r} is not a column of the model's schema; "
            f"columns: {', '.join(arms[0].model.schema.names[:30])}"
        )
    return Service(arms, shadow_arm, config)


def _same_kind(arms: list[Arm], shadow: Arm | None) -> None:
    """Every arm answers the same routes: all recommend, or none does."""
    recommends = isinstance(arms[0].model, ServedRecommender)
    for arm in [*arms[1:], *([shadow] if shadow else [])]:
        if isinstance(arm.model, ServedRecommender) != recommends:
            raise ServingError(
                f"the {arm.name} ({arm.model.name}, {arm.model.task}) and the champion "
                f"({arms[0].model.name}, {arms[0].model.task}) solve different tasks; "
                "every arm must answer the same requests"
            )


def _fastapi_app(service: Service) -> Any:
    from fastapi import FastAPI

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        await asyncio.to_thread(service.start)
        try:
            yield
        finally:
            await service.stop()

    champion_model = service.arms[0].model
    app = FastAPI(
        title=f"cairn: {champion_model.name}",
        version=champion_model.version,
        description=f"Predictions of {champion_model.name} ({champion_model.task}) "
        f"served by cairn with the {champion_model.engine} engine.",
        lifespan=lifespan,
        docs_url=None,  # served below from local files: FastAPI's page loads a CDN
        redoc_url=None,
        openapi_url="/openapi.json" if service.config.docs else None,
    )
    app.state.service = service
    return app


def _add_probe_routes(app: Any, service: Service) -> None:
    """/health and /ready: open to probes, even with an API key."""
    from fastapi.responses import JSONResponse

    @app.get("/health", summary="The process is alive, and the champion it serves")
    async def health() -> dict[str, Any]:
        model = service.arms[0].model
        body: dict[str, Any] = {"status": "ok", "model": model.name, "version": model.version}
        if service.follower is not None:
            body["following"] = service.follower.status()
        return body

    @app.get(
        "/ping",
        summary="200 once the models are loaded (cloud platforms' probe)",
        responses={503: {"description": "Still loading"}},
    )
    async def ping() -> Any:
        if not service.ready:
            return JSONResponse({"ready": False, "detail": "loading"}, status_code=503)
        return {"ready": True}

    @app.get(
        "/ready",
        summary="Models loaded and warmed",
        responses={503: {"description": "Still loading"}},
    )
    async def ready() -> Any:
        log = service.log.status() if service.log is not None else None
        if not service.ready:
            return JSONResponse({"ready": False, "detail": "loading"}, status_code=503)
        if log is not None and log["writer"] != "running":
            # predictions would be answered but no longer recorded
            return JSONResponse(
                {"ready": False, "detail": f"prediction log: {log['last_error']}", "log": log},
                status_code=503,
            )
        return {"ready": True, "arms": [a.name for a in service.arms], "log": log}


def _add_info_routes(app: Any, service: Service) -> None:
    """/metadata and /metrics."""
    from fastapi.responses import Response

    config = service.config
    unauthorized = error_responses(401)

    @app.get("/metadata", summary="Schema, metrics, version and engine", responses=unauthorized)
    async def metadata() -> Any:
        body = service.arms[0].model.describe()
        body["arms"] = [
            {
                "arm": arm.name,
                "name": arm.model.name,
                "version": arm.model.version,
                "engine": arm.model.engine,
                "share": arm.share,
            }
            for arm in [*service.arms, *([service.shadow] if service.shadow else [])]
        ]
        body["entity_key"] = config.entity_key
        body["limits"] = {"max_body_bytes": config.max_body_bytes, "max_rows": config.max_rows}
        # a database URL is shown without its password
        body["log"] = log_display(config.log_path) if config.log_path else None
        return Response(orjson.dumps(body, option=JSON_OPTIONS), media_type="application/json")

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        response_model=None,
        responses={200: {"content": {"text/plain": {}}}, **unauthorized},
    )
    async def metrics() -> Any:
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)


def _install_openapi(app: Any, service: Service) -> None:
    """FastAPI's document for its own routes, plus the scoring routes and the key schemes."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            paths, schemas = openapi_paths(service)
            document.setdefault("paths", {}).update(paths)
            document.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
            if service.config.api_key:
                document["components"]["securitySchemes"] = {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                }
                document["security"] = [{"bearer": []}, {"apiKey": []}]
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi


def _docs_assets() -> Path | None:
    """The folder holding Swagger UI's files, or None when they are not installed."""
    import importlib.util

    spec = importlib.util.find_spec("fastapi_offline")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        static = Path(folder) / "static"
        if all((static / name).is_file() for name in _DOCS_ASSETS):
            return static
    return None


def _add_docs_routes(app: Any) -> None:
    """/docs: Swagger UI from local files."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import FileResponse, Response

    assets = _docs_assets()

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Any:
        if assets is None:
            return Response(
                "Swagger UI's files are not installed: pip install fastapi-offline",
                status_code=503,
                media_type="text/plain",
            )
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} - docs",
            swagger_js_url="/docs/swagger-ui-bundle.js",
            swagger_css_url="/docs/swagger-ui.css",
            swagger_favicon_url="/docs/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/docs/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> Any:
        if assets is None or name not in _DOCS_ASSETS:
            return Response("not found", status_code=404, media_type="text/plain")
        return FileResponse(assets / name, media_type=_DOCS_ASSETS[name])
