"""Second pass: the ONNX graph for preprocessing, learners, bags and ensembles."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cairn.bundle import schema_task
from cairn.data.schema import Role, Schema
from cairn.export._clusters import cluster_graph, log_scaled
from cairn.export._common import (
    BOOLEAN_FALSE,
    BOOLEAN_TRUE,
    MAX_TABLE_CELLS,
    MAX_TREE_NODES,
    ML_OPSET,
    OPSET,
    UNSEEN_TEXT,
    UnsupportedError,
)
from cairn.export._graph import Graph
from cairn.export._inputs import (
    Inputs,
    collect_inputs,
    columns_of,
    fitted_pipelines,
    function_name,
    pipeline_steps,
)
from cairn.export._trees import (
    LGB_IDENTITY,
    Tree,
    TreeArrays,
    catboost_trees,
    lightgbm_trees,
    sklearn_tree,
)
from cairn.models.target import LogTargetRegressor, SmoothedClassifier
from cairn.records import (
    DATE_PARTS,
    FIRST_CODE,
    MISSING,
    UNSEEN,
    UNSEEN_FALSE,
    UNSEEN_TRUE,
)
from cairn.tasks import Output, Task


class Builder:
    """Second pass: the graph for each pipeline, sharing the inputs."""

    def __init__(self, graph: Graph, inputs: Inputs, task: Task, n_classes: int) -> None:
        self.g = graph
        self.inputs = inputs
        self.task = task
        self.n_classes = n_classes
        self.tree_nodes = 0
        # numeric columns on a log scale before their encoding (clustering)
        self.log_columns: tuple[str, ...] = ()

    # -- inputs ------------------------------------------------------------
    def _num(self, names: Sequence[str]) -> str:
        return self.g.cols("num", [self.inputs.num.index(n) for n in names])

    def _codes(self, names: Sequence[str]) -> str:
        return self.g.cols("cat", [self.inputs.cat.index(n) for n in names])

    # -- preprocessing -----------------------------------------------------
    def features(self, prep: Any) -> str:
        blocks = []
        for _, transformer, columns in prep.transformers_:
            if isinstance(transformer, str):
                continue
            block = self._block(transformer, columns_of(columns))
            if block is not None:
                blocks.append(block)
        if not blocks:
            raise UnsupportedError("the preprocessing produces no feature")
        return self.g.concat(blocks)

    def _block(self, transformer: Any, names: list[str]) -> str | None:
        from sklearn.impute import SimpleImputer
        from sklearn.preprocessing import StandardScaler

        from cairn.features.preprocess import DatetimeFeatures, RangeClipper, TextVectorizer

        steps = pipeline_steps(transformer)
        tensor: str | None = None
        index = 0
        first = steps[0]
        if function_name(first) == "to_float_frame":
            tensor, index = self._num(names), 1
            logged = [name in self.log_columns for name in names]
            if any(logged):
                tensor = self.g.op(
                    "Where",
                    [self.g.const(np.asarray([logged])), log_scaled(self.g, tensor), tensor],
                )
        elif isinstance(first, DatetimeFeatures):
            tensor, index = self._dates(first, names), 1
        elif isinstance(first, TextVectorizer):
            return self._text(first, names[0])
        else:
            tensor, index = self._lookup(steps, names)
        for step in steps[index:]:
            if isinstance(step, SimpleImputer):
                tensor = self._impute(step, tensor)
            elif isinstance(step, RangeClipper):
                lower = np.where(np.isnan(step.lower_), -np.inf, step.lower_)[None, :]
                upper = np.where(np.isnan(step.upper_), np.inf, step.upper_)[None, :]
                tensor = self.g.op(
                    "Max", [self.g.op("Min", [tensor, self.g.const(upper)]), self.g.const(lower)]
                )
            elif isinstance(step, StandardScaler):
                if step.with_mean:
                    tensor = self.g.op("Sub", [tensor, self.g.const(step.mean_[None, :])])
                if step.with_std:
                    tensor = self.g.op("Div", [tensor, self.g.const(step.scale_[None, :])])
            else:
                raise UnsupportedError(f"preprocessing step {type(step).__name__}")
        return tensor

    def _impute(self, imputer: Any, tensor: str) -> str:
        missing = imputer.missing_values
        if not (isinstance(missing, float) and math.isnan(missing)):
            raise UnsupportedError("an imputer whose missing value is not NaN")
        statistics = np.asarray(imputer.statistics_, dtype=np.float64)
        mask = self.g.op("IsNaN", [tensor])
        filled = self.g.op("Where", [mask, self.g.const(statistics[None, :]), tensor])
        if not imputer.keep_empty_features and np.isnan(statistics).any():
            filled = self.g.cols(filled, np.flatnonzero(~np.isnan(statistics)).tolist())
        indicator = getattr(imputer, "indicator_", None)
        if imputer.add_indicator and indicator is not None and len(indicator.features_):
            flags = self.g.to_double(self.g.cols(mask, list(indicator.features_)))
            return self.g.concat([filled, flags])
        return filled

    def _lookup(self, steps: list[Any], names: list[str]) -> tuple[str, int]:
        """Category encoders as table look-ups; returns the tensor and the next step."""
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, TargetEncoder

        from cairn.features.preprocess import BooleanEncoder, FrequencyEncoder

        index = 1 if function_name(steps[0]) == "to_category_strings" else 0
        encoder = steps[index]
        if not isinstance(
            encoder,
            OneHotEncoder | OrdinalEncoder | TargetEncoder | FrequencyEncoder | BooleanEncoder,
        ):
            raise UnsupportedError(f"category step {type(encoder).__name__}")
        widths = _encoder_widths(encoder, len(names))
        reps = [self._representatives(name) for name in names]
        depth = max(len(r) for r in reps)
        frame = pd.DataFrame(
            {name: r + [None] * (depth - len(r)) for name, r in zip(names, reps, strict=True)},
            dtype=object,
        )
        head = make_pipeline(*steps[: index + 1]) if index else encoder
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = np.asarray(_dense(head.transform(frame)), dtype=np.float64)
        total = sum(widths)
        if table.shape != (depth, total):
            raise UnsupportedError(f"{type(encoder).__name__} output has an unexpected shape")
        n_codes = [len(r) for r in reps]
        if sum(n_codes) * total > MAX_TABLE_CELLS:
            raise UnsupportedError("category tables too large for the graph")
        big = np.zeros((sum(n_codes), total), dtype=np.float64)
        offsets = np.cumsum([0, *n_codes[:-1]])
        start = 0
        for j, width in enumerate(widths):
            big[offsets[j] : offsets[j] + n_codes[j], start : start + width] = table[
                : n_codes[j], start : start + width
            ]
            start += width
        codes = self._codes(names)
        shifted = self.g.op("Add", [codes, self.g.const(offsets[None, :].astype(np.int64))])
        looked = self.g.op("Gather", [self.g.const(big, "table"), shifted], axis=0)
        summed = self.g.op("ReduceSum", [looked, self.g.const(np.asarray([1], dtype=np.int64))])
        # ReduceSum keeps the axis by default: (rows, 1, width) -> (rows, width)
        flat = self.g.op("Squeeze", [summed, self.g.const(np.asarray([1], dtype=np.int64))])
        return flat, index + 1

    def _representatives(self, name: str) -> list[Any]:
        """A raw value standing for each code of the column, in code order."""
        known = self.inputs.strings[name]
        taken = set(known)

        def word(words: Sequence[str]) -> str:
            for w in words:
                for variant in (w, w.upper(), w.title(), f" {w.upper()} "):
                    if variant.strip() not in taken:
                        return variant
            return UNSEEN_TEXT

        boolean = self.inputs.schema[name].role == Role.BOOLEAN
        reps: list[Any] = [None, UNSEEN_TEXT]
        reps.append(word(BOOLEAN_TRUE) if boolean else UNSEEN_TEXT)
        reps.append(word(BOOLEAN_FALSE) if boolean else UNSEEN_TEXT)
        assert len(reps) == FIRST_CODE and reps[MISSING] is None and reps[UNSEEN] == UNSEEN_TEXT
        assert UNSEEN_TRUE == 2 and UNSEEN_FALSE == 3
        return reps + list(known)

    def _dates(self, step: Any, names: list[str]) -> str:
        indices: list[int] = []
        for name, has_time in zip(names, step.has_time_, strict=True):
            base = self.inputs.dt.index(name) * len(DATE_PARTS)
            for k, part in enumerate(DATE_PARTS):
                if part == "hour" and not has_time:
                    continue
                indices.append(base + k)
        return self.g.cols("dt", indices)

    def _text(self, vectorizer: Any, name: str) -> str | None:
        if getattr(vectorizer, "empty_", False) or not vectorizer.vocabulary_:
            return None
        union = {term: i for i, term in enumerate(self.inputs.text[name])}
        order = sorted(vectorizer.vocabulary_.items(), key=lambda item: item[1])
        position = list(self.inputs.text).index(name)
        counts = self.g.cols(f"text_{position}", [union[term] for term, _ in order])
        one = self.g.const(np.asarray(1.0))
        zero = self.g.const(np.asarray(0.0))
        if vectorizer.binary:
            counts = self.g.op("Min", [counts, one])
        if vectorizer.sublinear_tf:
            logs = self.g.op("Log", [self.g.op("Max", [counts, one])])
            present = self.g.to_double(self.g.op("Greater", [counts, zero]))
            counts = self.g.op("Add", [logs, present])
        if vectorizer.use_idf:
            counts = self.g.op("Mul", [counts, self.g.const(vectorizer.idf_[None, :])])
        if vectorizer.norm == "l2":
            squares = self.g.op("Mul", [counts, counts])
            total = self.g.op(
                "ReduceSum", [squares, self.g.const(np.asarray([1], dtype=np.int64))], keepdims=1
            )
            norm = self.g.op("Sqrt", [total])
            safe = self.g.op("Where", [self.g.op("Equal", [norm, zero]), one, norm])
            counts = self.g.op("Div", [counts, safe])
        return counts

    # -- learners ----------------------------------------------------------
    def pipeline(self, pipeline: Any) -> str:
        if self.task.output == Output.LABELS:
            return cluster_graph(self, pipeline)
        prep, model = pipeline.named_steps["prep"], pipeline.named_steps["model"]
        features = self.features(prep)
        return self.learner(model, features, int(model.n_features_in_))

    def learner(self, model: Any, features: str, n_features: int) -> str:
        """The model's output: probabilities (rows, classes) or values (rows, 1), double."""
        if isinstance(model, LogTargetRegressor):
            logged = self.learner(model.regressor, features, n_features)
            return self.g.op("Sub", [self.g.op("Exp", [logged]), self.g.const(np.asarray(1.0))])
        if isinstance(model, SmoothedClassifier):
            votes = self.learner(model.classifier, features, n_features)
            kept = self.g.op("Mul", [votes, self.g.const(np.asarray(1.0 - model.share))])
            spread = np.asarray(model.share * model.prior, dtype=np.float64)[None, :]
            return self.g.op("Add", [kept, self.g.const(spread)])
        module = type(model).__module__
        if module.startswith("lightgbm"):
            return self._lightgbm(model, features)
        if module.startswith("catboost"):
            return self._catboost(model, features)
        if hasattr(model, "estimators_") and all(
            hasattr(tree, "tree_") for tree in model.estimators_
        ):
            return self._forest(model, features)
        if hasattr(model, "tree_"):
            return self._forest(model, features, single=True)
        if hasattr(model, "coef_") and hasattr(model, "intercept_"):
            return self._linear(model, features)
        if module.startswith("sklearn"):
            return self._skl2onnx(model, features, n_features)
        raise UnsupportedError(f"no ONNX form for {type(model).__name__}")

    def _trees(self, trees: Sequence[Tree], feed: str, n_targets: int) -> str:
        """A TreeEnsemble node (double thresholds and weights) summing the trees."""
        ensemble = TreeArrays(n_targets)
        for tree in trees:
            ensemble.add(tree)
        self.tree_nodes += ensemble.n_nodes
        if self.tree_nodes > MAX_TREE_NODES:
            raise UnsupportedError(
                f"trees too large for the ONNX fast path ({self.tree_nodes} nodes)"
            )
        out = ensemble.emit(self.g, feed)
        if np.any(ensemble.bias):
            out = self.g.op("Add", [out, self.g.const(ensemble.bias[None, :])])
        return out

    def _lightgbm(self, model: Any, features: str) -> str:
        trees, header = lightgbm_trees(model.booster_)
        objective = header.get("objective", "regression").split()
        n_targets = int(header.get("num_tree_per_iteration", "1"))
        raw = self._trees(trees, features, n_targets)
        if "average_output" in header:
            raise UnsupportedError("LightGBM random-forest mode")
        if not self.task.has_classes:
            if objective[0] not in LGB_IDENTITY:
                raise UnsupportedError(f"LightGBM objective {objective[0]!r}")
            return raw
        if objective[0] == "binary":
            scale = 1.0
            for item in objective[1:]:
                if item.startswith("sigmoid:"):
                    scale = float(item.split(":", 1)[1])
            return self._binary(self.g.op("Mul", [raw, self.g.const(np.asarray(scale))]))
        if objective[0] == "multiclass":
            return self.g.op("Softmax", [raw], axis=1)
        raise UnsupportedError(f"LightGBM objective {objective[0]!r}")

    def _binary(self, logit: str) -> str:
        """(rows, 1) logit -> (rows, 2) probabilities [1 - p, p]."""
        p = self.g.op("Sigmoid", [logit])
        q = self.g.op("Sub", [self.g.const(np.asarray(1.0)), p])
        return self.g.concat([q, p])

    def _catboost(self, model: Any, features: str) -> str:
        trees, bias, scale, n_targets = catboost_trees(model)
        if scale != 1.0:
            raise UnsupportedError("CatBoost model with a non-unit scale")
        feed = self.g.to_double(self.g.op("Cast", [features], to=1))  # float32 like CatBoost
        raw = self._trees(trees, feed, n_targets)
        raw = self.g.op("Add", [raw, self.g.const(np.asarray(bias, dtype=np.float64)[None, :])])
        if not self.task.has_classes:
            return raw
        if n_targets == 1:
            return self._binary(raw)
        return self.g.op("Softmax", [raw], axis=1)

    def _forest(self, model: Any, features: str, single: bool = False) -> str:
        estimators = [model] if single else list(model.estimators_)
        # scikit-learn trees compare float32 features with float64 thresholds
        feed = self.g.to_double(self.g.op("Cast", [features], to=1))
        classification = self.task.has_classes
        n_classes = self.n_classes if classification else 1
        targets = [1] if classification and n_classes == 2 else list(range(n_classes))
        trees: list[Tree] = []
        for estimator in estimators:
            t = estimator.tree_
            value = np.asarray(t.value[:, 0, :], dtype=np.float64)
            if classification:
                totals = value.sum(axis=1, keepdims=True)
                totals[totals == 0.0] = 1.0
                value = value / totals
            for k, target in enumerate(targets):
                trees.append(sklearn_tree(t, value[:, target], 0 if len(targets) == 1 else k))
        out = self._trees(trees, feed, len(targets))
        if not single:
            out = self.g.op("Div", [out, self.g.const(np.asarray(float(len(estimators))))])
        if classification and n_classes == 2:
            q = self.g.op("Sub", [self.g.const(np.asarray(1.0)), out])
            return self.g.concat([q, out])
        return out

    def _linear(self, model: Any, features: str) -> str:
        coef = np.asarray(model.coef_, dtype=np.float64)
        intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
        weights = coef.T if coef.ndim == 2 else coef.reshape(-1, 1)
        decision = self.g.op(
            "Add",
            [
                self.g.op("MatMul", [features, self.g.const(weights)]),
                self.g.const(intercept[None, :]),
            ],
        )
        if not self.task.has_classes:
            return decision
        if not hasattr(model, "predict_proba"):
            raise UnsupportedError(f"{type(model).__name__} gives no probabilities")
        if weights.shape[1] == 1:
            return self._binary(decision)
        return self.g.op("Softmax", [decision], axis=1)

    def _skl2onnx(self, model: Any, features: str, n_features: int) -> str:
        try:
            from skl2onnx import convert_sklearn
            from skl2onnx.common.data_types import DoubleTensorType
        except ImportError as error:
            raise UnsupportedError(f"{type(model).__name__} needs skl2onnx") from error
        options: dict[Any, Any] = {}
        if self.task.has_classes:
            options[id(model)] = {"zipmap": False}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = convert_sklearn(
                model,
                initial_types=[("input", DoubleTensorType([None, n_features]))],
                options=options,
                target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
            )
        names = [o.name for o in converted.graph.output]
        output = "probabilities" if self.task.has_classes else names[-1]
        out = self.g.to_double(self.g.embed(converted, features, output))
        if not self.task.has_classes:
            out = self.g.op("Reshape", [out, self.g.const(np.asarray([-1, 1], dtype=np.int64))])
        return out

    # -- combinations ------------------------------------------------------
    def estimator(self, estimator: Any) -> str:
        from sklearn.pipeline import Pipeline

        from cairn.models.ensemble import BaggedModel, EnsembleModel

        if isinstance(estimator, EnsembleModel):
            outputs = [self.estimator(member) for member in estimator.members]
            if estimator.stacker is not None:
                combined = self._stack(estimator.stacker, outputs)
            else:
                combined = self._weighted(outputs, [float(w) for w in estimator.weights])
            return self._tempered(combined, estimator.temperature)
        if isinstance(estimator, BaggedModel):
            outputs = [self.estimator(member) for member in estimator.models]
            return self._weighted(outputs, [1.0 / len(outputs)] * len(outputs))
        if isinstance(estimator, Pipeline):
            return self.pipeline(estimator)
        raise UnsupportedError(f"{type(estimator).__name__} has no ONNX form")

    def _weighted(self, outputs: Sequence[str], weights: Sequence[float]) -> str:
        if len(outputs) == 1 and weights[0] == 1.0:
            return outputs[0]
        if len(set(weights)) == 1:
            # an equal-weight mean, computed as numpy's mean is: sum, then divide
            total = outputs[0]
            for out in outputs[1:]:
                total = self.g.op("Add", [total, out])
            return self.g.op("Div", [total, self.g.const(np.asarray(float(len(outputs))))])
        stacked = self.g.op(
            "Concat", [self.g.op("Unsqueeze", [o, self._axis0()]) for o in outputs], axis=0
        )
        shaped = np.asarray(weights, dtype=np.float64).reshape(-1, 1, 1)
        return self.g.op(
            "ReduceSum",
            [self.g.op("Mul", [stacked, self.g.const(shaped)]), self._axis0()],
            keepdims=0,
        )

    def _tempered(self, proba: str, temperature: float) -> str:
        """softmax(log p / T), as :func:`cairn.models.ensemble.tempered`."""
        if temperature == 1.0 or not self.task.has_classes:
            return proba
        from cairn.models.ensemble import PROBABILITY_FLOOR

        floored = self.g.op("Max", [proba, self.g.const(np.asarray(PROBABILITY_FLOOR))])
        logits = self.g.op(
            "Div", [self.g.op("Log", [floored]), self.g.const(np.asarray(temperature))]
        )
        return self.g.op("Softmax", [logits], axis=1)

    def _axis0(self) -> str:
        return self.g.const(np.asarray([0], dtype=np.int64))

    def _stack(self, stacker: Any, outputs: Sequence[str]) -> str:
        columns = []
        for out in outputs:
            if self.task.has_classes and self.n_classes == 2:
                columns.append(self.g.cols(out, [1]))
            else:
                columns.append(out)
        features = self.g.concat(columns)
        return self._linear(stacker, features)


def _encoder_widths(encoder: Any, n_columns: int) -> list[int]:
    from sklearn.preprocessing import OneHotEncoder, TargetEncoder

    if isinstance(encoder, OneHotEncoder):
        if encoder.drop is not None:
            raise UnsupportedError("one-hot encoding with dropped categories")
        return [int(w) for w in encoder._compute_n_features_outs()]
    if isinstance(encoder, TargetEncoder):
        per = len(encoder.classes_) if encoder.target_type_ == "multiclass" else 1
        return [per] * n_columns
    return [1] * n_columns


def _dense(values: Any) -> Any:
    return values.toarray() if hasattr(values, "toarray") else values


def _cluster_count(estimator: Any) -> int:
    k = getattr(getattr(estimator, "_final_estimator", None), "n_clusters_", None)
    if k is None:
        raise UnsupportedError(f"{type(estimator).__name__} is not a fitted clustering pipeline")
    return int(k)


def build_graph(estimator: Any, schema: Schema) -> tuple[bytes, dict[str, Any]]:
    import onnx
    from onnx import TensorProto, helper

    task = schema_task(schema)
    n_classes = len(schema.classes or ())
    if task.output == Output.LABELS:
        n_classes = _cluster_count(estimator)
    pipelines = fitted_pipelines(estimator)
    inputs = collect_inputs(schema, pipelines)
    graph = Graph()
    builder = Builder(graph, inputs, task, n_classes)
    output = builder.estimator(estimator)
    # the graph's output is named for what it holds: "probabilities" or "values"
    name = task.output
    if task.output == Output.VALUES:
        output = graph.op("Reshape", [output, graph.const(np.asarray([-1], dtype=np.int64))])
    graph.nodes.append(helper.make_node("Identity", [output], [name]))
    declared = []
    if inputs.num:
        declared.append(
            helper.make_tensor_value_info("num", TensorProto.DOUBLE, [None, len(inputs.num)])
        )
    if inputs.cat:
        declared.append(
            helper.make_tensor_value_info("cat", TensorProto.INT64, [None, len(inputs.cat)])
        )
    if inputs.dt:
        declared.append(
            helper.make_tensor_value_info(
                "dt", TensorProto.DOUBLE, [None, len(DATE_PARTS) * len(inputs.dt)]
            )
        )
    for k, column in enumerate(inputs.text):
        declared.append(
            helper.make_tensor_value_info(
                f"text_{k}", TensorProto.DOUBLE, [None, len(inputs.text[column])]
            )
        )
    shape = {
        Output.PROBABILITIES: [None, n_classes],
        Output.LABELS: [None, task.output_width(n_classes)],
    }.get(task.output, [None])
    result = helper.make_tensor_value_info(name, TensorProto.DOUBLE, shape)
    onnx_graph = helper.make_graph(
        graph.nodes, "cairn", declared, [result], initializer=graph.initializers
    )
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in graph.opsets.items()],
        producer_name="cairn",
    )
    model.ir_version = min(model.ir_version, 10)
    # Unused inputs would make ONNX Runtime demand feeds nobody reads; the
    # adapter always feeds every declared input, so keep them.
    onnx.checker.check_model(model)
    spec = inputs.spec()
    spec["output"] = name
    return model.SerializeToString(), spec
