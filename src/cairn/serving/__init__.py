"""Serving: a fast, safe JSON API for a model bundle, with a prediction log,
A/B and shadow routing, a load-test client and an A/B report.

::

    from cairn.serving import ServingConfig, create_app, read_log

    app = create_app("models:/churn@champion", config=ServingConfig(log_path=path))
    frame = read_log(path, since="24h")

Submodules: ``app`` (routes; the scoring path in ``_asgi``, the models
behind it in ``_service``, the OpenAPI document in ``_openapi``), ``engine``
(loading, ONNX or native; JSON records become arrays in :mod:`cairn.records`),
``log`` (prediction log: format, writer and reader), ``metrics``
(Prometheus), ``server`` (running it), ``loadtest``, ``gate`` (the latency
gate of ``cairn run``), ``timing`` (the engine's own time per record, for
comparing candidates), ``abtest``, ``container`` (``cairn build``: a
container build context); following a registry alias is in ``_follow``.
The commands are in :mod:`cairn.cli.serving` and :mod:`cairn.cli.traffic`.

Names load on first use, so importing this package stays cheap (the CLI
imports it to register its commands).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn._lazy import lazy_exports as _lazy_exports

__all__ = [
    "ABTestReport",
    "AliasFollower",
    "Arm",
    "BuildContext",
    "EngineTiming",
    "LoadTestResult",
    "PredictionLog",
    "ServedModel",
    "ServingConfig",
    "apply_gate",
    "build_context",
    "build_image",
    "compare_arms",
    "create_app",
    "default_log_path",
    "export_log",
    "join_outcomes",
    "latency_gate",
    "load_served_model",
    "load_test",
    "measure_served",
    "prune_log",
    "read_log",
    "read_rejected",
    "run_in_thread",
    "serve",
]

_LAZY = {
    "ABTestReport": "cairn.serving.abtest",
    "AliasFollower": "cairn.serving._follow",
    "Arm": "cairn.serving.app",
    "BuildContext": "cairn.serving.container",
    "EngineTiming": "cairn.serving.timing",
    "LoadTestResult": "cairn.serving.loadtest",
    "PredictionLog": "cairn.serving.log",
    "ServedModel": "cairn.serving.engine",
    "ServingConfig": "cairn.serving.app",
    "apply_gate": "cairn.serving.gate",
    "build_context": "cairn.serving.container",
    "build_image": "cairn.serving.container",
    "compare_arms": "cairn.serving.abtest",
    "create_app": "cairn.serving.app",
    "default_log_path": "cairn.serving.log",
    "export_log": "cairn.serving.log",
    "join_outcomes": "cairn.serving.abtest",
    "latency_gate": "cairn.serving.gate",
    "load_served_model": "cairn.serving.engine",
    "load_test": "cairn.serving.loadtest",
    "measure_served": "cairn.serving.timing",
    "prune_log": "cairn.serving.log",
    "read_log": "cairn.serving.log",
    "read_rejected": "cairn.serving.log",
    "run_in_thread": "cairn.serving.server",
    "serve": "cairn.serving.server",
}

if TYPE_CHECKING:
    from cairn.serving._follow import AliasFollower
    from cairn.serving.abtest import ABTestReport, compare_arms, join_outcomes
    from cairn.serving.app import Arm, ServingConfig, create_app
    from cairn.serving.container import BuildContext, build_context, build_image
    from cairn.serving.engine import ServedModel, load_served_model
    from cairn.serving.gate import apply_gate, latency_gate
    from cairn.serving.loadtest import LoadTestResult, load_test
    from cairn.serving.log import (
        PredictionLog,
        default_log_path,
        export_log,
        prune_log,
        read_log,
        read_rejected,
    )
    from cairn.serving.server import run_in_thread, serve
    from cairn.serving.timing import EngineTiming, measure_served


__getattr__, __dir__ = _lazy_exports("cairn.serving", _LAZY, __all__)
