"""The serving commands: ``cairn serve`` and ``cairn build`` (a container
build context). Load tests, the log and A/B reports are in
:mod:`cairn.cli.traffic`.

Only typer is imported here; FastAPI, ONNX Runtime and pandas load inside the
commands.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cairn.cli._common import console, find_spec, prediction_log_path, print_warnings, user_errors

if TYPE_CHECKING:
    from cairn.serving.app import ServingConfig
    from cairn.spec import ProjectSpec


def serve_command(
    model: Annotated[
        str | None,
        typer.Argument(
            help="Bundle folder or models:/NAME@ALIAS (default: the project's champion)."
        ),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    spec: Annotated[
        Path | None, typer.Option(help="Project spec for defaults (default: ./cairn.toml).")
    ] = None,
    champion: Annotated[
        str | None, typer.Option(help="The champion model (same as MODEL).")
    ] = None,
    challenger: Annotated[
        str | None, typer.Option(help="A/B: a second model getting --split of the traffic.")
    ] = None,
    split: Annotated[float, typer.Option(help="The challenger's share of traffic.")] = 0.1,
    shadow: Annotated[
        str | None, typer.Option(help="Score every request with this model too; log only.")
    ] = None,
    entity_key: Annotated[
        str | None, typer.Option(help="Input column keeping an entity on one A/B arm.")
    ] = None,
    api_key_file: Annotated[
        Path | None, typer.Option(help="File holding the API key (mode 600).")
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the API key.")
    ] = None,
    log: Annotated[
        str | None,
        typer.Option(
            help="Prediction log: a file or postgresql:// URL (default .cairn/predictions.db)."
        ),
    ] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not log predictions.")] = False,
    max_rows: Annotated[
        int | None, typer.Option(help="Records per request (default 10000).")
    ] = None,
    max_body_bytes: Annotated[
        int | None, typer.Option(help="Bytes per request body (default 10 MB).")
    ] = None,
    engine: Annotated[
        str, typer.Option(help="auto (ONNX when verified), onnx or native.")
    ] = "auto",
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow store for models:/ URIs.")
    ] = None,
    trust: Annotated[
        bool,
        typer.Option(
            "--trust",
            help="Serve unsigned bundles, or ones signed with another key.",
        ),
    ] = False,
    follow_alias: Annotated[
        bool,
        typer.Option(
            "--follow-alias",
            help="Reload when the models:/NAME@ALIAS served moves (promote, retrain, "
            "rollback): the new version loads in the background and takes over with no "
            "request dropped.",
        ),
    ] = False,
    follow_alias_interval: Annotated[
        float, typer.Option(help="Seconds between registry polls with --follow-alias.")
    ] = 10.0,
    allow_no_api_key: Annotated[
        bool,
        typer.Option(
            "--allow-no-api-key",
            help="Bind a non-loopback address without an API key, when something in front "
            "(a container platform, a gateway) already authenticates callers.",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Server processes sharing the port, each loading the models; "
            "all write the one prediction log (a postgresql:// log suits several hosts).",
        ),
    ] = 1,
) -> None:
    """Serve a model as a JSON API: /predict, /invocations, /ping, /health, /ready,
    /metadata, /metrics.

    A recommendation model answers /recommend and /similar-items instead of
    /predict and /invocations; with --challenger a user stays on one arm.
    """
    with user_errors():
        from cairn.serving.server import check_bind, serve

        project = find_spec(spec)
        reference, store = _model_and_store(project, model, champion, tracking_uri)
        address = _address(project, host, port, api_key_env, api_key_file)
        config = _serving_config(
            project, address.api_key, log, no_log, max_rows, max_body_bytes, entity_key
        )
        if not allow_no_api_key:
            check_bind(address.host, address.api_key, address.api_key_env)  # before any model
        # loaded here even with --workers: a bad model is one error line, not N
        # failing workers, and the log's tables exist before they start
        follower = (
            _follower(reference, store, follow_alias_interval, engine, trust)
            if follow_alias and workers == 1
            else None
        )
        app = _create_app(
            reference, challenger, shadow, split, config, store, engine, trust, follower
        )
        if allow_no_api_key and address.api_key is None:
            console.print(
                f"no API key: every caller that reaches {address.host}:{address.port} is served",
                highlight=False,
            )
        listening: dict[str, Any] = {
            "host": address.host,
            "port": address.port,
            "api_key": address.api_key,
            "api_key_env": address.api_key_env,
            "announce": _announcer(app.state.service, address, config.log_path, workers),
            "check": not allow_no_api_key,
        }
        if workers == 1:
            serve(app, **listening)
            return
        from cairn.serving.server import serve_workers

        os.environ[_WORKER_ENV] = json.dumps(
            {
                "models": [reference, challenger, shadow],
                "split": split,
                "store": store,
                "engine": engine,
                "trust": trust,
                # each worker follows the alias itself
                "follow_interval": follow_alias_interval if follow_alias else None,
                "api_key_env": address.api_key_env,
                "api_key_file": str(address.api_key_file) if address.api_key_file else None,
                "config": {
                    "max_body_bytes": config.max_body_bytes,
                    "max_rows": config.max_rows,
                    "entity_key": config.entity_key,
                    "log_path": str(config.log_path) if config.log_path else None,
                },
            }
        )
        serve_workers(f"{__name__}:worker_app", workers=workers, **listening)


def _follower(reference: str, store: str | None, interval: float, engine: str, trust: bool) -> Any:
    """The poller behind --follow-alias; it prints each swap."""
    from cairn.serving import AliasFollower

    def announce(line: str) -> None:
        console.print(line, highlight=False, soft_wrap=True)

    return AliasFollower(reference, store, interval, engine, trust, announce)


#: What ``cairn serve --workers N`` hands its worker processes (no secrets:
#: each reads the API key from the same variable or file).
_WORKER_ENV = "CAIRN_SERVE_WORKER"


def worker_app() -> Any:
    """The app of one ``cairn serve --workers N`` process (uvicorn calls this
    in each worker)."""
    import sys

    from cairn.serving.app import ServingConfig
    from cairn.serving.server import read_api_key

    sys.setswitchinterval(0.001)  # as serve(): the log writer yields the GIL quickly
    settings = json.loads(os.environ[_WORKER_ENV])
    key_file = settings["api_key_file"]
    api_key = read_api_key(env=settings["api_key_env"], file=Path(key_file) if key_file else None)
    config = ServingConfig(api_key=api_key, **settings["config"])
    reference, challenger, shadow = settings["models"]
    interval = settings["follow_interval"]
    follower = (
        None
        if interval is None
        else _follower(
            reference, settings["store"], interval, settings["engine"], settings["trust"]
        )
    )
    return _create_app(
        reference,
        challenger,
        shadow,
        settings["split"],
        config,
        settings["store"],
        settings["engine"],
        settings["trust"],
        follower,
    )


@dataclass(frozen=True)
class _Address:
    """Where the server listens and the key it asks for."""

    host: str
    port: int
    api_key: str | None
    api_key_env: str
    api_key_file: Path | None = None


def _model_and_store(
    project: ProjectSpec | None, model: str | None, champion: str | None, tracking_uri: str | None
) -> tuple[str, str | None]:
    """The champion to serve (MODEL, --champion or the project's champion
    alias) and the MLflow store that resolves models:/ URIs."""
    from cairn.exceptions import ServingError

    if model is not None and champion is not None and model != champion:
        raise ServingError("give the champion once: as MODEL or as --champion")
    reference = model or champion
    store = tracking_uri
    if project is not None and store is None:
        from cairn.tracking import tracking_uri as project_store

        store = project_store(project.project_dir, project.tracking.uri)
    if reference is None:
        if project is None:
            raise ServingError(
                "no model given: pass a bundle folder or models:/NAME@champion, or run "
                "from a project folder holding cairn.toml"
            )
        reference = f"models:/{project.project.name}@champion"
    return reference, store


def _address(
    project: ProjectSpec | None,
    host: str | None,
    port: int | None,
    api_key_env: str | None,
    api_key_file: Path | None,
) -> _Address:
    """The options given, else the spec's [serving] settings, else the defaults."""
    from cairn.serving.server import read_api_key

    settings = project.serving if project is not None else None
    bind = host or (settings.host if settings else "127.0.0.1")
    chosen_port = port if port is not None else (settings.port if settings else 8000)
    env_name = api_key_env or (settings.api_key_env if settings else "CAIRN_API_KEY")
    key_file = api_key_file
    if key_file is None and settings is not None and settings.api_key_file is not None:
        key_file = project.resolve(settings.api_key_file) if project else None
    api_key = read_api_key(env=env_name, file=key_file)
    return _Address(bind, chosen_port, api_key, env_name, key_file)


def _serving_config(
    project: ProjectSpec | None,
    api_key: str | None,
    log: str | None,
    no_log: bool,
    max_rows: int | None,
    max_body_bytes: int | None,
    entity_key: str | None,
) -> ServingConfig:
    from cairn.serving.app import ServingConfig

    settings = project.serving if project is not None else None
    log_path: Path | str | None
    if no_log or (log is None and settings is not None and not settings.log):
        log_path = None
    else:
        log_path = prediction_log_path(project, log)
    return ServingConfig(
        api_key=api_key,
        max_body_bytes=max_body_bytes or (settings.max_body_bytes if settings else 10_000_000),
        max_rows=max_rows or (settings.max_rows if settings else 10_000),
        entity_key=entity_key or (settings.entity_key if settings else None),
        log_path=log_path,
    )


def _create_app(
    reference: str,
    challenger: str | None,
    shadow: str | None,
    split: float,
    config: ServingConfig,
    store: str | None,
    engine: str,
    trust: bool,
    follower: Any = None,
) -> Any:
    """Load the champion (and the challenger and shadow, when given) and build the app."""
    from cairn.serving.app import create_app
    from cairn.serving.engine import load_served_model

    def load(ref: str | None) -> Any:
        if ref is None:
            return None
        import warnings

        from cairn.bundle import BundleWarning

        with warnings.catch_warnings(record=True) as caught:
            # Only cairn's own load warnings are for the user; libraries'
            # deprecation notices (SQLAlchemy under MLflow) are not.
            warnings.simplefilter("ignore")
            warnings.simplefilter("always", BundleWarning)
            served = load_served_model(ref, tracking_uri=store, engine=engine, trust=trust)
        print_warnings(caught)
        return served

    return create_app(
        load(reference),
        challenger=load(challenger),
        split=split,
        shadow=load(shadow),
        config=config,
        tracking_uri=store,
        engine=engine,
        follow=follower,
    )


def _announcer(
    service: Any, address: _Address, log_path: Path | str | None, workers: int = 1
) -> Callable[[], None]:
    """What the server prints once it listens: each arm's model and engine, the address."""

    def announce() -> None:
        from cairn.serving.log import log_display

        for arm in [*service.arms, *([service.shadow] if service.shadow else [])]:
            share = (
                f", {arm.share:.0%} of traffic"
                if len(service.arms) > 1 and arm.name != "shadow"
                else ""
            )
            reason = f" ({arm.model.engine_reason})" if arm.model.engine_reason else ""
            console.print(
                f"{arm.name:<11} {arm.model.name} v{arm.model.version}: "
                f"{arm.model.engine} engine{reason}{share}",
                highlight=False,
                soft_wrap=True,
            )
        if service.follower is not None:
            console.print(
                f"following {service.follower.reference}: checked every "
                f"{service.follower.interval:g}s",
                highlight=False,
            )
        bind = address.host
        shown = f"[{bind}]" if ":" in bind else bind
        console.print(
            f"listening on http://{shown}:{address.port} (docs at /docs"
            f"{f'; {workers} worker processes' if workers > 1 else ''}); "
            f"log: {log_display(log_path) if log_path else 'off'}; "
            f"API key: {'required' if address.api_key else 'off'}",
            highlight=False,
            soft_wrap=True,
        )

    return announce


def build_command(
    model: Annotated[
        str | None,
        typer.Argument(
            help="Bundle folder or models:/NAME@ALIAS (default: the project's champion)."
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder to write the context to (new or empty).")
    ] = Path("container"),
    image: Annotated[
        str | None, typer.Option(help="Also run 'docker build -t IMAGE' on the context.")
    ] = None,
    wheel: Annotated[
        Path | None,
        typer.Option(help="cairn wheel to install (default: built from this cairn's source)."),
    ] = None,
    spec: Annotated[
        Path | None, typer.Option(help="Project spec for defaults (default: ./cairn.toml).")
    ] = None,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow store for models:/ URIs.")
    ] = None,
    trust: Annotated[
        bool, typer.Option("--trust", help="Accept an unsigned bundle, or one signed elsewhere.")
    ] = False,
) -> None:
    """Write a container build context (Dockerfile, the bundle, a cairn wheel) that
    serves MODEL on port 8080: cairn's routes, GET /ping and POST /invocations."""
    with user_errors():
        from cairn.serving.container import build_context, build_image, check_image_tag

        if image is not None:
            check_image_tag(image)
        reference, store = _model_and_store(find_spec(spec), model, None, tracking_uri)
        with console.status(f"writing the build context for {reference}", spinner="dots"):
            built = build_context(reference, output, tracking_uri=store, wheel=wheel, trust=trust)
        extras = built.requirements[1:]
        console.print(
            f"wrote {built.folder}: {built.model} v{built.version}, {built.engine} engine; "
            f"installs cairn[serve]{' and ' + ', '.join(extras) if extras else ' only'} "
            f"({built.reason})",
            highlight=False,
            markup=False,  # "[serve]" is text, not a style
            soft_wrap=True,
        )
        if image is None:
            console.print(f"build it with: docker build -t IMAGE {built.folder}", highlight=False)
            return
        build_image(built, image)
        console.print(f"built image {image}: docker run -p 8080:8080 {image}", highlight=False)
