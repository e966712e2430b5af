"""Evaluation of a trained model on its held-out rows.

::

    from cairn.evaluation import analyse_run, write_evaluation_report, write_model_card

    analysis = analyse_run(".cairn/runs/latest")
    write_evaluation_report(analysis)
    write_model_card(analysis)

Submodules: ``evaluate`` (test metrics and objectives during a run),
``importance`` (permutation importance, SHAP), ``segments`` (the metric per
segment), ``report`` (the evaluation page), ``card`` (the model card),
``run_folder`` and ``run_state`` (run folders read back and their life cycle).
A clustering run is described by a :class:`Segmentation` (plain data):
:func:`profile_segments` and :func:`describe_segment` put each segment in
words, :func:`write_clustering_report` and :func:`write_clustering_card`
write its report and model card; :func:`load_segmentation` reads a
clustering run folder back. A recommendation run is described by a
:class:`RecommendationResults` (plain data, the run's ``recommendation.json``):
:func:`write_recommendation_report` and :func:`write_recommendation_card`
draw it, :func:`load_recommendation` reads it back; :func:`bootstrap_means`,
:func:`paired_margin`, :func:`metric_curves` and :func:`segment_table` give
its intervals over users, curves and activity segments.
The metric functions and bootstrap intervals live with the tasks, in
:mod:`cairn.tasks.metrics` and :mod:`cairn.tasks.bootstrap`.

Names load on first use, so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn._lazy import lazy_exports as _lazy_exports

__all__ = [
    "CardSection",
    "Evaluation",
    "FeatureEffect",
    "Importance",
    "ModelCard",
    "ObjectiveResult",
    "RecommendationResults",
    "RunAnalysis",
    "RunFolder",
    "RunFolderState",
    "Segment",
    "SegmentProfile",
    "SegmentTable",
    "Segmentation",
    "ShapSummary",
    "activity_segment",
    "analyse_run",
    "bootstrap_means",
    "check_objectives",
    "clustering_card",
    "describe_segment",
    "find_run",
    "finish_run_folder",
    "frame_of_intervals",
    "list_run_folders",
    "load_recommendation",
    "load_run",
    "load_segmentation",
    "measure_latency",
    "metric_curves",
    "model_card",
    "paired_margin",
    "permutation_importance",
    "profile_segments",
    "recommendation_card",
    "remove_interrupted",
    "render_clustering_report",
    "render_evaluation",
    "render_recommendation_report",
    "run_task",
    "segment_performance",
    "segment_table",
    "start_run_folder",
    "tree_shap",
    "write_clustering_card",
    "write_clustering_report",
    "write_evaluation_report",
    "write_model_card",
    "write_recommendation_card",
    "write_recommendation_report",
]

_LAZY = {
    "CardSection": "cairn.evaluation.card",
    "Evaluation": "cairn.evaluation.evaluate",
    "FeatureEffect": "cairn.evaluation._segment_profile",
    "Importance": "cairn.evaluation.importance",
    "ModelCard": "cairn.evaluation.card",
    "ObjectiveResult": "cairn.evaluation.evaluate",
    "RecommendationResults": "cairn.evaluation._recommendation_results",
    "RunAnalysis": "cairn.evaluation._analysis",
    "RunFolder": "cairn.evaluation.run_folder",
    "RunFolderState": "cairn.evaluation.run_state",
    "Segment": "cairn.evaluation.segments",
    "SegmentProfile": "cairn.evaluation._segment_profile",
    "SegmentTable": "cairn.evaluation.segments",
    "Segmentation": "cairn.evaluation._segmentation",
    "ShapSummary": "cairn.evaluation.importance",
    "activity_segment": "cairn.evaluation._recommendation_measure",
    "analyse_run": "cairn.evaluation._analysis",
    "bootstrap_means": "cairn.evaluation._recommendation_measure",
    "check_objectives": "cairn.evaluation.evaluate",
    "clustering_card": "cairn.evaluation._clustering_card",
    "describe_segment": "cairn.evaluation._segment_profile",
    "find_run": "cairn.evaluation.run_folder",
    "finish_run_folder": "cairn.evaluation.run_state",
    "frame_of_intervals": "cairn.evaluation.report",
    "list_run_folders": "cairn.evaluation.run_state",
    "load_recommendation": "cairn.evaluation._recommendation_results",
    "load_run": "cairn.evaluation.run_folder",
    "load_segmentation": "cairn.evaluation._segmentation_run",
    "measure_latency": "cairn.evaluation.evaluate",
    "metric_curves": "cairn.evaluation._recommendation_measure",
    "model_card": "cairn.evaluation.card",
    "paired_margin": "cairn.evaluation._recommendation_measure",
    "permutation_importance": "cairn.evaluation.importance",
    "profile_segments": "cairn.evaluation._segment_profile",
    "recommendation_card": "cairn.evaluation._recommendation_card",
    "remove_interrupted": "cairn.evaluation.run_state",
    "render_clustering_report": "cairn.evaluation._clustering_report",
    "render_evaluation": "cairn.evaluation.report",
    "render_recommendation_report": "cairn.evaluation._recommendation_report",
    "run_task": "cairn.evaluation._segmentation_run",
    "segment_performance": "cairn.evaluation.segments",
    "segment_table": "cairn.evaluation._recommendation_measure",
    "start_run_folder": "cairn.evaluation.run_state",
    "tree_shap": "cairn.evaluation.importance",
    "write_clustering_card": "cairn.evaluation._clustering_card",
    "write_clustering_report": "cairn.evaluation._clustering_report",
    "write_evaluation_report": "cairn.evaluation.report",
    "write_model_card": "cairn.evaluation.card",
    "write_recommendation_card": "cairn.evaluation._recommendation_card",
    "write_recommendation_report": "cairn.evaluation._recommendation_report",
}

if TYPE_CHECKING:
    from cairn.evaluation._analysis import RunAnalysis, analyse_run
    from cairn.evaluation._clustering_card import clustering_card, write_clustering_card
    from cairn.evaluation._clustering_report import (
        render_clustering_report,
        write_clustering_report,
    )
    from cairn.evaluation._recommendation_card import (
        recommendation_card,
        write_recommendation_card,
    )
    from cairn.evaluation._recommendation_measure import (
        activity_segment,
        bootstrap_means,
        metric_curves,
        paired_margin,
        segment_table,
    )
    from cairn.evaluation._recommendation_report import (
        render_recommendation_report,
        write_recommendation_report,
    )
    from cairn.evaluation._recommendation_results import (
        RecommendationResults,
        load_recommendation,
    )
    from cairn.evaluation._segment_profile import (
        FeatureEffect,
        SegmentProfile,
        describe_segment,
        profile_segments,
    )
    from cairn.evaluation._segmentation import Segmentation
    from cairn.evaluation._segmentation_run import load_segmentation, run_task
    from cairn.evaluation.card import CardSection, ModelCard, model_card, write_model_card
    from cairn.evaluation.evaluate import (
        Evaluation,
        ObjectiveResult,
        check_objectives,
        measure_latency,
    )
    from cairn.evaluation.importance import (
        Importance,
        ShapSummary,
        permutation_importance,
        tree_shap,
    )
    from cairn.evaluation.report import (
        frame_of_intervals,
        render_evaluation,
        write_evaluation_report,
    )
    from cairn.evaluation.run_folder import RunFolder, find_run, load_run
    from cairn.evaluation.run_state import (
        RunFolderState,
        finish_run_folder,
        list_run_folders,
        remove_interrupted,
        start_run_folder,
    )
    from cairn.evaluation.segments import Segment, SegmentTable, segment_performance

__getattr__, __dir__ = _lazy_exports("cairn.evaluation", _LAZY, __all__)
