"""A container build context for one model: ``cairn build MODEL -o DIR``.

The folder written holds everything ``docker build DIR`` needs and nothing
from this machine's Python environment::

    Dockerfile         python:3.11-slim, a non-root user, port 8080, a health check
    entrypoint.sh      ``cairn serve`` on the bundle below (``IMAGE serve`` works too)
    requirements.txt   the cairn wheel with its [serve] extra, and what else the model needs
    wheels/            a wheel of the cairn that wrote the context
    model/             the bundle, as verified when the context was written
    cairn-build.json   model, version, engine and the packages installed, and why

A bundle whose ONNX graph was verified at packaging time (and a
recommendation bundle) is served by ``cairn[serve]`` alone: no scikit-learn,
LightGBM or CatBoost in the image. A bundle served by its pickled pipeline
adds exactly the libraries that pipeline's pickle refers to, pinned to the
versions it was trained with.

The container answers cairn's routes and the ones cloud platforms probe:
``GET /ping`` and ``POST /invocations`` (JSON as ``/predict`` takes it,
MLflow's JSON forms, or CSV with a header) on port 8080.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cairn.bundle import SCHEMA_FILE, VerifiedBundle, read_serving, verify_bundle
from cairn.data.schema import Schema
from cairn.exceptions import BundleError, ServingError

__all__ = ["BuildContext", "build_context", "build_image"]

BASE_IMAGE = "python:3.11-slim"
PORT = 8080
INFO_FILE = "cairn-build.json"
#: import names whose distribution has another name
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}
#: what the serving install already brings, so never listed again
_SERVING_MODULES = frozenset({"builtins", "copyreg", "collections", "numpy", "pandas", "cairn"})


@dataclass
class BuildContext:
    """A written build context.

    Attributes:
        folder: the context (``docker build FOLDER``).
        model: the model's name; ``version``: its registry version or run id.
        engine: how the image serves it: "onnx", "recommender" or "native".
        wheel: the cairn wheel's file name, under ``wheels/``.
        requirements: what ``pip install`` gets: the wheel with [serve],
            then the libraries a native model needs.
        reason: why those libraries (or why none).
    """

    folder: Path
    model: str
    version: str
    engine: str
    wheel: str
    requirements: list[str] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["folder"] = str(self.folder)
        return data


def build_context(
    model: str | Path,
    output: str | Path,
    *,
    tracking_uri: str | None = None,
    wheel: str | Path | None = None,
    trust: bool = False,
) -> BuildContext:
    """Write a container build context for ``model`` into ``output``.

    Args:
        model: a bundle folder or ``models:/NAME@ALIAS`` / ``models:/NAME/VERSION``.
        output: the folder to write; it must not exist or be empty. It is
            written aside and renamed into place, so a failure leaves nothing.
        tracking_uri: MLflow store for registry URIs.
        wheel: a cairn wheel to install in the image; by default one is built
            from the source checkout this cairn runs from (``pip wheel --no-deps``).
        trust: accept an unsigned bundle, or one signed with another key.

    Raises:
        BundleError: the bundle fails verification.
        RegistryError: the registry URI cannot be resolved.
        ServingError: ``output`` is not empty, or no cairn wheel can be made.
    """
    target = Path(output)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ServingError(
            f"{target} exists and is not an empty folder; give a new folder for the context"
        )
    from cairn.serving.engine import resolve_model

    folder, version, _ = resolve_model(model, tracking_uri)
    bundle = verify_bundle(folder, trust=trust)
    engine, reason = _engine(bundle)
    if target.resolve().is_relative_to(bundle.folder.resolve()):
        # the bundle is copied into the context: inside itself it would copy without end
        raise ServingError(
            f"{target} is inside the bundle {bundle.folder}; "
            "give a folder outside it for the context"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    except OSError as error:
        raise ServingError(
            f"cannot write the build context in {target.parent} ({error.strerror or error}); "
            "give -o a folder you can write to"
        ) from None
    try:
        wheel_name = _place_wheel(wheel, staging / "wheels")
        requirements = [f"./wheels/{wheel_name}[serve]"]
        if engine == "native":
            needed, reason = _native_requirements(bundle, staging / "wheels" / wheel_name)
            requirements += needed
        shutil.copytree(bundle.folder, staging / "model")
        built = BuildContext(
            folder=target.resolve(),
            model=str(bundle.metadata.get("name", bundle.folder.name)),
            version=str(version or bundle.metadata.get("run_id", "local")),
            engine=engine,
            wheel=wheel_name,
            requirements=requirements,
            reason=reason,
        )
        _write_files(staging, built)
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return built


def _engine(bundle: VerifiedBundle) -> tuple[str, str]:
    """How the image will serve the bundle, and why it needs no training library
    (or why it does)."""
    from cairn.bundle import GRAPH_FILE
    from cairn.serving._recommend import is_recommendation

    try:
        schema = Schema.from_json(bundle.read(SCHEMA_FILE).decode("utf-8"))
    except (ValueError, KeyError) as error:
        raise BundleError(f"{bundle.folder / SCHEMA_FILE}: unreadable schema ({error})") from None
    if is_recommendation(bundle.metadata, schema):
        return "recommender", "a recommender is served from its arrays: no training library"
    serving = read_serving(bundle)
    if serving.get("engine") == "onnx" and bundle.has(GRAPH_FILE):
        return "onnx", "the bundle's ONNX graph was verified at packaging: no training library"
    why = str(serving.get("reason") or "the bundle has no verified ONNX graph")
    return "native", why


def _place_wheel(given: str | Path | None, folder: Path) -> str:
    """Copy ``given`` into ``folder``, or build a wheel of this cairn there; its file name."""
    folder.mkdir(parents=True)
    if given is not None:
        path = Path(given)
        if not path.is_file() or not path.name.startswith("cairn-") or path.suffix != ".whl":
            raise ServingError(f"--wheel {path}: not a cairn wheel file (cairn-*.whl)")
        shutil.copy2(path, folder / path.name)
        return path.name
    source = _source_checkout()
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(source)],
        capture_output=True,
        text=True,
    )
    built = sorted(folder.glob("cairn-*.whl"))
    if done.returncode != 0 or not built:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ServingError(
            f"cannot build a cairn wheel from {source} (pip wheel: {tail[0]}); "
            "build one yourself and pass it with --wheel"
        )
    return built[-1].name


def _source_checkout() -> Path:
    """The source tree this cairn is imported from (src layout)."""
    import cairn

    root = Path(cairn.__file__).resolve().parents[2]
    project = root / "pyproject.toml"
    if not project.is_file() or not re.search(
        r'^name\s*=\s*"cairn"', project.read_text(encoding="utf-8"), re.MULTILINE
    ):
        raise ServingError(
            "cairn is not running from a source checkout, so no wheel of it can be built "
            "here; pass a cairn wheel with --wheel PATH"
        )
    return root


def _native_requirements(bundle: VerifiedBundle, wheel: Path) -> tuple[list[str], str]:
    """The libraries the bundle's pickled pipeline refers to, pinned to the
    versions it was trained with (else to cairn's own range), and the reason."""
    trained = {str(k).lower(): str(v) for k, v in (bundle.metadata.get("versions") or {}).items()}
    ranges = _extra_ranges(wheel)
    distributions = importlib.metadata.packages_distributions()
    needed: dict[str, str] = {}
    for module in sorted(_pickled_modules(bundle)):
        if module in _SERVING_MODULES or module in sys.stdlib_module_names:
            continue
        name = _DISTRIBUTIONS.get(module) or (distributions.get(module) or [module])[0]
        key = name.lower()
        if key in trained:
            needed[key] = f"{name}=={trained[key]}"
        elif key in ranges:
            needed[key] = ranges[key]
        else:
            needed[key] = f"{name}=={importlib.metadata.version(name)}"
    listed = ", ".join(needed) or "nothing beyond cairn[serve]"
    return list(needed.values()), f"served by its pickled pipeline, which needs {listed}"


def _pickled_modules(bundle: VerifiedBundle) -> set[str]:
    """Top-level modules of every class the model file's pickle names. The
    file is unpickled (the bundle passed verification) with a recording
    unpickler, so what it needs is read, not guessed."""
    from joblib.numpy_pickle import NumpyUnpickler

    modules: set[str] = set()

    class Recording(NumpyUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            modules.add(module.split(".", 1)[0])
            return super().find_class(module, name)

    options = (
        {"ensure_native_byte_order": False}
        if "ensure_native_byte_order" in inspect.signature(NumpyUnpickler.__init__).parameters
        else {}
    )
    data = bundle.read(bundle.model_file)
    Recording(str(bundle.folder / bundle.model_file), io.BytesIO(data), **options).load()
    return modules


def _extra_ranges(wheel: Path) -> dict[str, str]:
    """Requirement strings of the wheel's extras, by lower-case distribution name."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode("utf-8")
    ranges: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("Requires-Dist:") or "extra ==" not in line:
            continue
        requirement = line.split(":", 1)[1].split(";", 1)[0].strip()
        match = re.match(r"[A-Za-z0-9._-]+", requirement)
        if match and "[" not in requirement:
            ranges.setdefault(match.group(0).lower(), requirement)
    return ranges


def _write_files(folder: Path, built: BuildContext) -> None:
    (folder / "requirements.txt").write_text("\n".join(built.requirements) + "\n", encoding="utf-8")
    (folder / "entrypoint.sh").write_text(_ENTRYPOINT, encoding="utf-8")
    (folder / "entrypoint.sh").chmod(0o755)
    (folder / "Dockerfile").write_text(_dockerfile(built), encoding="utf-8")
    (folder / ".dockerignore").write_text("cairn-build.json\n", encoding="utf-8")
    info = {k: v for k, v in built.to_dict().items() if k != "folder"}
    info.update(base_image=BASE_IMAGE, port=PORT)
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


_ENTRYPOINT = """#!/bin/sh
# Serves the bundle in /opt/cairn/model (written by `cairn build`).
# SageMaker starts the container as `IMAGE serve`; other arguments go to `cairn serve`.
# The bundle's file hashes are always checked; its signature too when the
# signing key is given (CAIRN_BUNDLE_KEY), else the bundle is trusted as built.
# Set CAIRN_API_KEY to require a key on every route but /ping, /health and /ready.
set -eu
if [ "${1:-}" = "serve" ]; then shift; fi
set -- "${CAIRN_MODEL:-/opt/cairn/model}" --host "${CAIRN_HOST:-0.0.0.0}" \\
    --port "${PORT:-8080}" --log "${CAIRN_LOG:-/var/lib/cairn/predictions.db}" \\
    --allow-no-api-key "$@"
if [ -z "${CAIRN_BUNDLE_KEY:-}" ]; then set -- "$@" --trust; fi
exec cairn serve "$@"
"""


def _dockerfile(built: BuildContext) -> str:
    extra = built.requirements[1:]
    installs = (
        f"# cairn[serve] only: {built.reason}"
        if not extra
        else f"# cairn[serve] and {', '.join(extra)}: {built.reason}"
    )
    probe = (
        "import os, urllib.request; urllib.request.urlopen("
        "'http://127.0.0.1:%s/ping' % os.environ.get('PORT', '8080'), timeout=4)"
    )
    what = f"{built.model} version {built.version}, {built.engine} engine"
    return f"""# Written by `cairn build`: {what}.
# docker build -t {_tag(built.model)} . && docker run -p 8080:8080 {_tag(built.model)}
FROM {BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

{installs}
WORKDIR /opt/cairn/build
COPY requirements.txt ./
COPY wheels/ ./wheels/
RUN pip install -r requirements.txt && rm -rf /opt/cairn/build

RUN useradd --system --uid 10001 --create-home --home-dir /home/cairn cairn \\
    && mkdir -p /var/lib/cairn && chown cairn /var/lib/cairn
COPY model/ /opt/cairn/model/
COPY entrypoint.sh /opt/cairn/entrypoint.sh
# the bundle's files are written owner-only: readable by the service user, still root's
RUN chmod -R a+rX /opt/cairn

USER cairn
WORKDIR /home/cairn
ENV CAIRN_MODEL=/opt/cairn/model CAIRN_HOST=0.0.0.0 PORT={PORT} \\
    CAIRN_LOG=/var/lib/cairn/predictions.db
VOLUME ["/var/lib/cairn"]
EXPOSE {PORT}
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \\
    CMD ["python", "-c", "{probe}"]
ENTRYPOINT ["/bin/sh", "/opt/cairn/entrypoint.sh"]
"""


def _tag(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.") or "cairn-model"


# docker's image reference: [host[:port]/]path-components[:tag], lowercase path
_IMAGE_TAG = re.compile(
    r"(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
)


def check_image_tag(tag: str) -> None:
    """Refuse a tag docker would refuse, before anything is written or built."""
    if not _IMAGE_TAG.fullmatch(tag) or len(tag) > 255:
        raise ServingError(
            f"--image {tag!r} is not a valid docker image name; use lowercase letters, digits "
            "and . _ - with an optional :tag, e.g. churn:3 or registry.example.com/team/churn:3"
        )


def build_image(context: BuildContext | str | Path, tag: str) -> None:
    """``docker build -t TAG CONTEXT``, its output shown as it runs.

    Raises:
        ServingError: the tag is not valid, docker is not installed, or the build failed.
    """
    check_image_tag(tag)
    folder = context.folder if isinstance(context, BuildContext) else Path(context)
    docker = shutil.which("docker")
    if docker is None:
        raise ServingError(
            f"docker is not installed here; the context is in {folder}: build it with "
            f"'docker build -t {tag} {folder}' where docker runs"
        )
    done = subprocess.run([docker, "build", "-t", tag, str(folder)], stderr=subprocess.PIPE)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise ServingError(
            f"docker build failed ({lines[-1] if lines else f'exit status {done.returncode}'}); "
            f"the context is in {folder}"
        )
