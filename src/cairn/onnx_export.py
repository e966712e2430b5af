"""The whole fitted model as one ONNX graph, for the server's fast path.

At packaging time :func:`export_serving` turns the final estimator (a
pipeline of cairn's preprocessing and a learner, a bag of fold pipelines, or
an ensemble of those) into a single ONNX graph that ONNX Runtime runs in one
call, preprocessing included:

- numeric columns: imputation, missing-value indicators and scaling become
  ``IsNaN``/``Where``/``Sub``/``Div`` on the ``num`` input;
- categorical and boolean columns: every encoder (one-hot, ordinal, target,
  frequency, boolean) is a function of the category string alone, so it is
  tabulated once per known category (and for missing and unseen values) by
  calling the fitted encoder itself; the graph looks codes up in those tables
  (``Gather``);
- datetime columns: the calendar parts come in the ``dt`` input; the graph
  picks the ones each model used and imputes them;
- text columns: term counts come in ``text_<i>``; the graph applies each
  model's vocabulary, sublinear TF, IDF weights and L2 norm;
- learners: tree ensembles (LightGBM, CatBoost, scikit-learn forests and
  trees) become one ``TreeEnsemble`` node (ONNX-ML opset 5) with float64
  thresholds and leaf values, read straight from each library's model, so
  every split is decided as the library decides it (the stock converters
  store float32 thresholds and take tens of seconds on large boosted
  ensembles); linear and logistic models are a ``MatMul``; other
  scikit-learn models go through skl2onnx. Bags are averaged and ensembles
  weighted (or stacked) inside the graph.

Nothing is trusted untested: the graph and the record reader
(:class:`cairn.serving.adapter.RecordAdapter`) together score the held-out
rows and probe rows (missing values, unseen categories), and must agree with
the native pipeline within :data:`RTOL`/:data:`ATOL` on every value and give
the same class on every row. Only then is the graph stored in the bundle;
otherwise the bundle records why, and the server uses the native pipeline.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cairn.data.schema import Role, Schema
from cairn.models.target import LogTargetRegressor
from cairn.serving.adapter import (
    DATE_PARTS,
    FIRST_CODE,
    MISSING,
    UNSEEN,
    UNSEEN_FALSE,
    UNSEEN_TRUE,
    RecordAdapter,
)

__all__ = [
    "ATOL",
    "GRAPH_FILE",
    "RTOL",
    "SERVING_FILE",
    "ExportResult",
    "export_serving",
    "to_records",
]

GRAPH_FILE = "model.onnx"
SERVING_FILE = "serving.json"
#: Agreement required between the graph and the native pipeline, per value:
#: ``|fast - native| <= ATOL + RTOL * |native|``.
RTOL = 1e-5
ATOL = 1e-5
SERVING_FORMAT = 1
_OPSET = 21
_ML_OPSET = 5
_MAX_TREE_NODES = 3_000_000
_MAX_TABLE_CELLS = 20_000_000
_MAX_PROBES = 200
_MAX_CHECK_ROWS = 2000
# Verification cost is per cell: wide tables get fewer probe rows (never under 20).
_MAX_PROBE_CELLS = 100_000
_MIN_PROBES = 20
# Larger graphs are served natively: they take seconds to load and gigabytes to run.
_MAX_GRAPH_BYTES = 64 * 2**20
_UNSEEN_TEXT = "\x00cairn-unseen"
# Words cairn's BooleanEncoder reads as true / false for values it has no mapping for.
_BOOLEAN_TRUE = ("true", "t", "yes", "y", "1", "1.0", "on")
_BOOLEAN_FALSE = ("false", "f", "no", "n", "0", "0.0", "off")


class _UnsupportedError(Exception):
    """A part of the model has no faithful ONNX form."""


@dataclass
class ExportResult:
    """What :func:`export_serving` decided.

    Attributes:
        files: bundle files to store (``serving.json`` always, ``model.onnx``
            when the graph was verified).
        engine: "onnx" when the graph is stored, else "native".
        reason: why the native pipeline serves, when it does.
        verification: rows compared, largest differences, timings.
    """

    files: dict[str, bytes]
    engine: str
    reason: str = ""
    verification: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The verdict as stored in the bundle's metadata."""
        return {"engine": self.engine, "reason": self.reason, **self.verification}


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: NaN → None, numpy scalars → Python, times → ISO text."""
    columns = [str(c) for c in frame.columns]
    out: list[dict[str, Any]] = []
    for row in frame.itertuples(index=False, name=None):
        out.append({name: _json_value(value) for name, value in zip(columns, row, strict=True)})
    return out


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        number = float(value)
        return None if math.isnan(number) or math.isinf(number) else number
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return pd.Timestamp(value).isoformat()
    return value if isinstance(value, str) else str(value)


# ---------------------------------------------------------------------------
# graph building
# ---------------------------------------------------------------------------


class _Graph:
    """Nodes and initializers of the graph under construction."""

    def __init__(self) -> None:
        from onnx import helper

        self.helper = helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.opsets: dict[str, int] = {"": _OPSET, "ai.onnx.ml": _ML_OPSET}
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value: Any, hint: str = "c") -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: str = "", **attrs: Any) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def cols(self, tensor: str, indices: Sequence[int]) -> str:
        return self.op("Gather", [tensor, self.const(np.asarray(indices, dtype=np.int64))], axis=1)

    def concat(self, tensors: Sequence[str]) -> str:
        if len(tensors) == 1:
            return tensors[0]
        return self.op("Concat", tensors, axis=1)

    def to_double(self, tensor: str) -> str:
        return self.op("Cast", [tensor], to=11)  # DOUBLE

    def embed(self, model: Any, feed: str, output: str) -> str:
        """Add a converted model's graph, fed by ``feed``; returns its ``output``."""
        from onnx import compose

        prefix = self.name("m") + "_"
        prefixed = compose.add_prefix(model, prefix)
        graph = prefixed.graph
        (source,) = [i.name for i in graph.input]
        self.nodes.append(self.helper.make_node("Identity", [feed], [source]))
        self.nodes.extend(graph.node)
        self.initializers.extend(graph.initializer)
        for opset in model.opset_import:
            domain = opset.domain or ""
            if domain not in ("", "ai.onnx.ml"):
                raise _UnsupportedError(f"converted model uses the operator domain {domain!r}")
            self.opsets[domain] = max(self.opsets.get(domain, 0), opset.version)
        return prefix + output


@dataclass
class _Inputs:
    """The graph inputs and the code dictionaries, shared by every member."""

    schema: Schema
    num: list[str] = field(default_factory=list)
    cat: list[str] = field(default_factory=list)
    dt: list[str] = field(default_factory=list)
    text: dict[str, list[str]] = field(default_factory=dict)  # column -> union vocabulary
    text_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    strings: dict[str, list[str]] = field(default_factory=dict)  # column -> known strings

    def spec(self) -> dict[str, Any]:
        codes: dict[str, Any] = {}
        for name in self.cat:
            entry: dict[str, Any] = {"strings": self.strings.get(name, [])}
            if self.schema[name].role == Role.BOOLEAN:
                entry["true_words"] = list(_BOOLEAN_TRUE)
                entry["false_words"] = list(_BOOLEAN_FALSE)
            codes[name] = entry
        return {
            "num": self.num,
            "cat": self.cat,
            "dt": self.dt,
            "text": [
                {"column": name, "vocabulary": self.text[name], **self.text_params[name]}
                for name in self.text
            ],
            "codes": codes,
        }

    def code_of(self, column: str, text: str) -> int:
        return FIRST_CODE + self.strings[column].index(text)


def _steps(transformer: Any) -> list[Any]:
    from sklearn.pipeline import Pipeline

    if isinstance(transformer, Pipeline):
        return [step for _, step in transformer.steps if step is not None and step != "passthrough"]
    return [transformer]


def _function_name(step: Any) -> str | None:
    from sklearn.preprocessing import FunctionTransformer

    if isinstance(step, FunctionTransformer):
        return getattr(step.func, "__name__", None)
    return None


def _pipelines(estimator: Any) -> list[Any]:
    """Every fitted (prep, model) pipeline inside the estimator."""
    from sklearn.pipeline import Pipeline

    from cairn.models.ensemble import BaggedModel, EnsembleModel

    if isinstance(estimator, EnsembleModel):
        return [p for member in estimator.members for p in _pipelines(member)]
    if isinstance(estimator, BaggedModel):
        return [p for member in estimator.models for p in _pipelines(member)]
    if isinstance(estimator, Pipeline) and "prep" in estimator.named_steps:
        from cairn.features.preprocess import CategoryCodes

        if isinstance(estimator.named_steps["prep"], CategoryCodes):
            raise _UnsupportedError("CatBoost with native categories (target statistics)")
        return [estimator]
    raise _UnsupportedError(f"{type(estimator).__name__} is not a cairn pipeline, bag or ensemble")


def _columns_of(columns: Any) -> list[str]:
    if isinstance(columns, str):
        return [columns]
    return [str(c) for c in columns]


def _collect_inputs(schema: Schema, pipelines: Sequence[Any]) -> _Inputs:
    """First pass: which columns feed which input, and every known category string."""
    from cairn.features.preprocess import (
        MISSING_CATEGORY,
        BooleanEncoder,
        DatetimeFeatures,
        FrequencyEncoder,
        TextVectorizer,
    )

    inputs = _Inputs(schema)
    strings: dict[str, set[str]] = {}
    for column in schema.columns:
        if column.is_feature and column.role in (Role.CATEGORICAL, Role.BOOLEAN):
            strings[column.name] = set(column.categories or ())
    used: dict[str, str] = {}
    for pipeline in pipelines:
        prep = pipeline.named_steps["prep"]
        for _, transformer, columns in prep.transformers_:
            if isinstance(transformer, str):
                if transformer == "drop":
                    continue
                raise _UnsupportedError(f"column transformer step {transformer!r}")
            names = _columns_of(columns)
            for name in names:
                if name not in schema or not schema[name].is_feature:
                    raise _UnsupportedError(f"column {name!r} is not a feature of the schema")
            steps = _steps(transformer)
            first = steps[0]
            kind: str
            if _function_name(first) == "to_float_frame":
                kind = "num"
            elif _function_name(first) == "to_category_strings" or isinstance(
                first, BooleanEncoder | FrequencyEncoder
            ):
                kind = "cat"
            elif isinstance(first, DatetimeFeatures):
                kind = "dt"
            elif isinstance(first, TextVectorizer):
                kind = "text"
            else:
                raise _UnsupportedError(f"preprocessing step {type(first).__name__}")
            for name in names:
                if used.setdefault(name, kind) != kind:
                    raise _UnsupportedError(f"column {name!r} is encoded in two ways")
            if kind == "cat":
                for step in steps:
                    for j, name in enumerate(names):
                        strings[name].update(_known_strings(step, j))
            if kind == "text":
                (name,) = names
                _add_vocabulary(inputs, name, first)
    for name, kind in sorted(used.items(), key=lambda item: schema.names.index(item[0])):
        if kind == "num":
            inputs.num.append(name)
        elif kind == "cat":
            inputs.cat.append(name)
            inputs.strings[name] = sorted(strings[name] - {MISSING_CATEGORY})
        elif kind == "dt":
            inputs.dt.append(name)
    return inputs


def _known_strings(step: Any, j: int) -> set[str]:
    from cairn.features.preprocess import BooleanEncoder, FrequencyEncoder

    if isinstance(step, BooleanEncoder):
        return set(step.mappings_[j])
    if isinstance(step, FrequencyEncoder):
        return set(step.frequencies_[j])
    categories = getattr(step, "categories_", None)
    if categories is not None and hasattr(step, "transform"):
        return {str(v) for v in categories[j]}
    return set()


_TEXT_PARAMS = ("lowercase", "token_pattern", "ngram_range")


def _add_vocabulary(inputs: _Inputs, name: str, vectorizer: Any) -> None:
    if (
        vectorizer.analyzer != "word"
        or vectorizer.tokenizer is not None
        or vectorizer.preprocessor is not None
        or vectorizer.stop_words is not None
        or vectorizer.strip_accents is not None
        or vectorizer.input != "content"
        or vectorizer.norm not in ("l2", None)
    ):
        raise _UnsupportedError(f"text column {name!r}: vectorizer options without an ONNX form")
    params = {
        "lowercase": bool(vectorizer.lowercase),
        "token_pattern": str(vectorizer.token_pattern),
        "ngram_range": list(vectorizer.ngram_range),
    }
    if inputs.text_params.setdefault(name, params) != params:
        raise _UnsupportedError(f"text column {name!r}: models tokenize it differently")
    terms = inputs.text.setdefault(name, [])
    seen = set(terms)
    for term in sorted(getattr(vectorizer, "vocabulary_", {}) or {}):
        if term not in seen:
            terms.append(term)
            seen.add(term)


_LGB_IDENTITY = frozenset({"regression", "regression_l1", "huber", "fair", "quantile", "mape"})


@dataclass
class _Tree:
    """One decision tree in a common form.

    Internal node ``i`` sends rows with ``x[feature[i]] <= split[i]`` to
    ``left[i]`` (missing values to ``left`` when ``nan_left[i]``); a child
    ``c >= 0`` is an internal node, ``c < 0`` the leaf ``~c``.
    """

    feature: np.ndarray
    split: np.ndarray
    left: np.ndarray
    right: np.ndarray
    nan_left: np.ndarray
    leaves: np.ndarray
    target: int = 0


class _TreeArrays:
    """Trees gathered into the attributes of one ``TreeEnsemble`` node."""

    def __init__(self, n_targets: int) -> None:
        self.n_targets = n_targets
        self.bias = np.zeros(n_targets, dtype=np.float64)
        self.roots: list[int] = []
        self.parts: dict[str, list[np.ndarray]] = {
            k: []
            for k in (
                "feature",
                "split",
                "true_id",
                "true_leaf",
                "false_id",
                "false_leaf",
                "nan",
                "target",
                "weight",
            )
        }
        self.n_nodes = 0
        self.n_leaves = 0

    def add(self, tree: _Tree) -> None:
        if len(tree.feature) == 0:
            self.bias[tree.target] += float(tree.leaves[0])
            return
        node0, leaf0 = self.n_nodes, self.n_leaves
        self.roots.append(node0)
        parts = self.parts
        for child, prefix in ((tree.left, "true"), (tree.right, "false")):
            is_leaf = child < 0
            parts[f"{prefix}_id"].append(np.where(is_leaf, leaf0 + ~child, node0 + child))
            parts[f"{prefix}_leaf"].append(is_leaf.astype(np.int64))
        parts["feature"].append(tree.feature.astype(np.int64))
        parts["split"].append(tree.split.astype(np.float64))
        parts["nan"].append(tree.nan_left.astype(np.int64))
        parts["target"].append(np.full(len(tree.leaves), tree.target, dtype=np.int64))
        parts["weight"].append(tree.leaves.astype(np.float64))
        self.n_nodes += len(tree.feature)
        self.n_leaves += len(tree.leaves)

    def emit(self, g: _Graph, feed: str) -> str:
        from onnx import numpy_helper

        if not self.roots:
            # every tree is a single leaf: the output is the bias alone
            clean = g.op("Where", [g.op("IsNaN", [feed]), g.const(np.asarray(0.0)), feed])
            first = g.cols(clean, [0] * self.n_targets)
            return g.op("Mul", [first, g.const(np.asarray(0.0))])

        def ints(key: str) -> list[int]:
            return [int(v) for v in np.concatenate(self.parts[key])]

        return g.op(
            "TreeEnsemble",
            [feed],
            "trees",
            domain="ai.onnx.ml",
            aggregate_function=1,  # SUM
            post_transform=0,  # NONE
            n_targets=self.n_targets,
            tree_roots=self.roots,
            nodes_featureids=ints("feature"),
            nodes_modes=numpy_helper.from_array(np.zeros(self.n_nodes, dtype=np.uint8)),
            nodes_splits=numpy_helper.from_array(np.concatenate(self.parts["split"])),
            nodes_truenodeids=ints("true_id"),
            nodes_trueleafs=ints("true_leaf"),
            nodes_falsenodeids=ints("false_id"),
            nodes_falseleafs=ints("false_leaf"),
            nodes_missing_value_tracks_true=ints("nan"),
            leaf_targetids=ints("target"),
            leaf_weights=numpy_helper.from_array(np.concatenate(self.parts["weight"])),
        )


def _lightgbm_trees(booster: Any) -> tuple[list[_Tree], dict[str, str]]:
    """Trees of a LightGBM booster, read from its text model (up to the best iteration)."""
    text = booster.model_to_string()
    header: dict[str, str] = {}
    blocks: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if line.startswith("end of trees"):
            break
        if line.startswith("Tree="):
            current = {}
            blocks.append(current)
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if current is None:
            header[key] = value
        else:
            current[key] = value
    per_iteration = int(header.get("num_tree_per_iteration", "1"))
    trees: list[_Tree] = []
    for index, block in enumerate(blocks):
        if block.get("num_cat", "0") != "0" or block.get("is_linear", "0") != "0":
            raise _UnsupportedError("LightGBM trees with categorical or linear splits")
        leaves = np.asarray(block["leaf_value"].split(), dtype=np.float64)
        target = index % per_iteration
        if int(block.get("num_leaves", "1")) <= 1:
            trees.append(_Tree(*(np.zeros(0),) * 5, leaves=leaves[:1], target=target))
            continue
        decision = np.asarray(block["decision_type"].split(), dtype=np.int64)
        if np.any(decision & 1):
            raise _UnsupportedError("LightGBM categorical splits")
        missing = (decision >> 2) & 3
        if np.any(missing == 1):
            raise _UnsupportedError("LightGBM splits treating zero as missing")
        split = np.asarray(block["threshold"].split(), dtype=np.float64)
        # missing type None: LightGBM reads NaN as 0.0; type NaN: the default side
        nan_left = np.where(missing == 2, (decision & 2) != 0, split >= 0.0)
        trees.append(
            _Tree(
                feature=np.asarray(block["split_feature"].split(), dtype=np.int64),
                split=split,
                left=np.asarray(block["left_child"].split(), dtype=np.int64),
                right=np.asarray(block["right_child"].split(), dtype=np.int64),
                nan_left=nan_left,
                leaves=leaves,
                target=target,
            )
        )
    return trees, header


def _catboost_trees(model: Any) -> tuple[list[_Tree], list[float], float, int]:
    """Oblivious trees of a CatBoost model as full binary trees, with bias and scale."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.json"
        model.save_model(str(path), format="json")
        data = json.loads(path.read_text(encoding="utf-8"))
    info = data.get("features_info", {})
    if info.get("categorical_features") or info.get("text_features"):
        raise _UnsupportedError("CatBoost categorical or text features")
    if "oblivious_trees" not in data:
        raise _UnsupportedError("CatBoost trees that are not symmetric")
    floats = {f["feature_index"]: f for f in info.get("float_features", [])}
    scale, bias = data.get("scale_and_bias", [1.0, [0.0]])
    bias_list = [float(b) for b in (bias if isinstance(bias, list) else [bias])]
    n_targets = len(bias_list)
    trees: list[_Tree] = []
    for tree in data["oblivious_trees"]:
        splits = tree.get("splits") or []
        values = np.asarray(tree["leaf_values"], dtype=np.float64)
        depth = len(splits)
        dims = len(values) // (1 << depth)
        if dims != n_targets:
            raise _UnsupportedError("CatBoost leaf values of an unexpected size")
        if depth == 0:
            for k in range(dims):
                trees.append(_Tree(*(np.zeros(0),) * 5, leaves=values[k : k + 1], target=k))
            continue
        features, borders, nan_left = [], [], []
        for split in splits:
            if split.get("split_type", "FloatFeature") != "FloatFeature":
                raise _UnsupportedError(f"CatBoost split type {split.get('split_type')!r}")
            feature = floats[split["float_feature_index"]]
            features.append(int(feature["flat_feature_index"]))
            borders.append(float(np.float32(split["border"])))
            nan_left.append(feature.get("nan_value_treatment", "AsIs") != "AsTrue")
        # level l tests split l; a leaf's index has bit l set when x > border there
        feature_arr, split_arr, left_arr, right_arr, nan_arr = [], [], [], [], []
        for level in range(depth):
            for bits in range(1 << level):
                feature_arr.append(features[level])
                split_arr.append(borders[level])
                nan_arr.append(nan_left[level])
                low, high = bits, bits | (1 << level)
                if level == depth - 1:
                    left_arr.append(~low)
                    right_arr.append(~high)
                else:
                    base = (1 << (level + 1)) - 1
                    left_arr.append(base + low)
                    right_arr.append(base + high)
        for k in range(dims):
            trees.append(
                _Tree(
                    feature=np.asarray(feature_arr, dtype=np.int64),
                    split=np.asarray(split_arr, dtype=np.float64),
                    left=np.asarray(left_arr, dtype=np.int64),
                    right=np.asarray(right_arr, dtype=np.int64),
                    nan_left=np.asarray(nan_arr, dtype=bool),
                    leaves=values[k::dims].copy(),
                    target=k,
                )
            )
    return trees, bias_list, float(scale), n_targets


def _sklearn_tree(t: Any, values: np.ndarray, target: int) -> _Tree:
    """A fitted scikit-learn ``tree_`` with one leaf value per node."""
    left, right = np.asarray(t.children_left), np.asarray(t.children_right)
    internal = np.flatnonzero(left != -1)
    leaves = np.flatnonzero(left == -1)
    if len(internal) == 0:
        return _Tree(*(np.zeros(0),) * 5, leaves=values[:1].copy(), target=target)
    index = np.zeros(len(left), dtype=np.int64)
    index[internal] = np.arange(len(internal))
    index[leaves] = ~np.arange(len(leaves))
    go_left = getattr(t, "missing_go_to_left", None)
    nan_left = (
        np.asarray(go_left, dtype=bool)[internal]
        if go_left is not None
        else np.ones(len(internal), dtype=bool)
    )
    return _Tree(
        feature=np.asarray(t.feature)[internal],
        split=np.asarray(t.threshold, dtype=np.float64)[internal],
        left=index[left[internal]],
        right=index[right[internal]],
        nan_left=nan_left,
        leaves=values[leaves].astype(np.float64),
        target=target,
    )


class _Builder:
    """Second pass: the graph for each pipeline, sharing the inputs."""

    def __init__(self, graph: _Graph, inputs: _Inputs, task: str, n_classes: int) -> None:
        self.g = graph
        self.inputs = inputs
        self.task = task
        self.n_classes = n_classes
        self.tree_nodes = 0

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
            block = self._block(transformer, _columns_of(columns))
            if block is not None:
                blocks.append(block)
        if not blocks:
            raise _UnsupportedError("the preprocessing produces no feature")
        return self.g.concat(blocks)

    def _block(self, transformer: Any, names: list[str]) -> str | None:
        from sklearn.impute import SimpleImputer
        from sklearn.preprocessing import StandardScaler

        from cairn.features.preprocess import DatetimeFeatures, RangeClipper, TextVectorizer

        steps = _steps(transformer)
        tensor: str | None = None
        index = 0
        first = steps[0]
        if _function_name(first) == "to_float_frame":
            tensor, index = self._num(names), 1
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
                raise _UnsupportedError(f"preprocessing step {type(step).__name__}")
        return tensor

    def _impute(self, imputer: Any, tensor: str) -> str:
        missing = imputer.missing_values
        if not (isinstance(missing, float) and math.isnan(missing)):
            raise _UnsupportedError("an imputer whose missing value is not NaN")
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

        index = 1 if _function_name(steps[0]) == "to_category_strings" else 0
        encoder = steps[index]
        if not isinstance(
            encoder,
            OneHotEncoder | OrdinalEncoder | TargetEncoder | FrequencyEncoder | BooleanEncoder,
        ):
            raise _UnsupportedError(f"category step {type(encoder).__name__}")
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
            raise _UnsupportedError(f"{type(encoder).__name__} output has an unexpected shape")
        n_codes = [len(r) for r in reps]
        if sum(n_codes) * total > _MAX_TABLE_CELLS:
            raise _UnsupportedError("category tables too large for the graph")
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
            return _UNSEEN_TEXT

        boolean = self.inputs.schema[name].role == Role.BOOLEAN
        reps: list[Any] = [None, _UNSEEN_TEXT]
        reps.append(word(_BOOLEAN_TRUE) if boolean else _UNSEEN_TEXT)
        reps.append(word(_BOOLEAN_FALSE) if boolean else _UNSEEN_TEXT)
        assert len(reps) == FIRST_CODE and reps[MISSING] is None and reps[UNSEEN] == _UNSEEN_TEXT
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
        prep, model = pipeline.named_steps["prep"], pipeline.named_steps["model"]
        features = self.features(prep)
        return self.learner(model, features, int(model.n_features_in_))

    def learner(self, model: Any, features: str, n_features: int) -> str:
        """The model's output: probabilities (rows, classes) or values (rows, 1), double."""
        if isinstance(model, LogTargetRegressor):
            logged = self.learner(model.regressor, features, n_features)
            return self.g.op("Sub", [self.g.op("Exp", [logged]), self.g.const(np.asarray(1.0))])
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
        raise _UnsupportedError(f"no ONNX form for {type(model).__name__}")

    def _trees(self, trees: Sequence[_Tree], feed: str, n_targets: int) -> str:
        """A TreeEnsemble node (double thresholds and weights) summing the trees."""
        ensemble = _TreeArrays(n_targets)
        for tree in trees:
            ensemble.add(tree)
        self.tree_nodes += ensemble.n_nodes
        if self.tree_nodes > _MAX_TREE_NODES:
            raise _UnsupportedError(
                f"trees too large for the ONNX fast path ({self.tree_nodes} nodes)"
            )
        out = ensemble.emit(self.g, feed)
        if np.any(ensemble.bias):
            out = self.g.op("Add", [out, self.g.const(ensemble.bias[None, :])])
        return out

    def _lightgbm(self, model: Any, features: str) -> str:
        trees, header = _lightgbm_trees(model.booster_)
        objective = header.get("objective", "regression").split()
        n_targets = int(header.get("num_tree_per_iteration", "1"))
        raw = self._trees(trees, features, n_targets)
        if "average_output" in header:
            raise _UnsupportedError("LightGBM random-forest mode")
        if self.task == "regression":
            if objective[0] not in _LGB_IDENTITY:
                raise _UnsupportedError(f"LightGBM objective {objective[0]!r}")
            return raw
        if objective[0] == "binary":
            scale = 1.0
            for item in objective[1:]:
                if item.startswith("sigmoid:"):
                    scale = float(item.split(":", 1)[1])
            return self._binary(self.g.op("Mul", [raw, self.g.const(np.asarray(scale))]))
        if objective[0] == "multiclass":
            return self.g.op("Softmax", [raw], axis=1)
        raise _UnsupportedError(f"LightGBM objective {objective[0]!r}")

    def _binary(self, logit: str) -> str:
        """(rows, 1) logit -> (rows, 2) probabilities [1 - p, p]."""
        p = self.g.op("Sigmoid", [logit])
        q = self.g.op("Sub", [self.g.const(np.asarray(1.0)), p])
        return self.g.concat([q, p])

    def _catboost(self, model: Any, features: str) -> str:
        trees, bias, scale, n_targets = _catboost_trees(model)
        if scale != 1.0:
            raise _UnsupportedError("CatBoost model with a non-unit scale")
        feed = self.g.to_double(self.g.op("Cast", [features], to=1))  # float32 like CatBoost
        raw = self._trees(trees, feed, n_targets)
        raw = self.g.op("Add", [raw, self.g.const(np.asarray(bias, dtype=np.float64)[None, :])])
        if self.task == "regression":
            return raw
        if n_targets == 1:
            return self._binary(raw)
        return self.g.op("Softmax", [raw], axis=1)

    def _forest(self, model: Any, features: str, single: bool = False) -> str:
        estimators = [model] if single else list(model.estimators_)
        # scikit-learn trees compare float32 features with float64 thresholds
        feed = self.g.to_double(self.g.op("Cast", [features], to=1))
        classification = self.task == "classification"
        n_classes = self.n_classes if classification else 1
        targets = [1] if classification and n_classes == 2 else list(range(n_classes))
        trees: list[_Tree] = []
        for estimator in estimators:
            t = estimator.tree_
            value = np.asarray(t.value[:, 0, :], dtype=np.float64)
            if classification:
                totals = value.sum(axis=1, keepdims=True)
                totals[totals == 0.0] = 1.0
                value = value / totals
            for k, target in enumerate(targets):
                trees.append(_sklearn_tree(t, value[:, target], 0 if len(targets) == 1 else k))
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
        if self.task == "regression":
            return decision
        if not hasattr(model, "predict_proba"):
            raise _UnsupportedError(f"{type(model).__name__} gives no probabilities")
        if weights.shape[1] == 1:
            return self._binary(decision)
        return self.g.op("Softmax", [decision], axis=1)

    def _skl2onnx(self, model: Any, features: str, n_features: int) -> str:
        try:
            from skl2onnx import convert_sklearn
            from skl2onnx.common.data_types import DoubleTensorType
        except ImportError as error:
            raise _UnsupportedError(f"{type(model).__name__} needs skl2onnx") from error
        options: dict[Any, Any] = {}
        if self.task == "classification":
            options[id(model)] = {"zipmap": False}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = convert_sklearn(
                model,
                initial_types=[("input", DoubleTensorType([None, n_features]))],
                options=options,
                target_opset={"": _OPSET, "ai.onnx.ml": _ML_OPSET},
            )
        names = [o.name for o in converted.graph.output]
        output = "probabilities" if self.task == "classification" else names[-1]
        out = self.g.to_double(self.g.embed(converted, features, output))
        if self.task == "regression":
            out = self.g.op("Reshape", [out, self.g.const(np.asarray([-1, 1], dtype=np.int64))])
        return out

    # -- combinations ------------------------------------------------------
    def estimator(self, estimator: Any) -> str:
        from sklearn.pipeline import Pipeline

        from cairn.models.ensemble import BaggedModel, EnsembleModel

        if isinstance(estimator, EnsembleModel):
            outputs = [self.estimator(member) for member in estimator.members]
            if estimator.stacker is not None:
                return self._stack(estimator.stacker, outputs)
            return self._weighted(outputs, [float(w) for w in estimator.weights])
        if isinstance(estimator, BaggedModel):
            outputs = [self.estimator(member) for member in estimator.models]
            return self._weighted(outputs, [1.0 / len(outputs)] * len(outputs))
        if isinstance(estimator, Pipeline):
            return self.pipeline(estimator)
        raise _UnsupportedError(f"{type(estimator).__name__} has no ONNX form")

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

    def _axis0(self) -> str:
        return self.g.const(np.asarray([0], dtype=np.int64))

    def _stack(self, stacker: Any, outputs: Sequence[str]) -> str:
        columns = []
        for out in outputs:
            if self.task == "classification" and self.n_classes == 2:
                columns.append(self.g.cols(out, [1]))
            else:
                columns.append(out)
        features = self.g.concat(columns)
        return self._linear(stacker, features)


def _encoder_widths(encoder: Any, n_columns: int) -> list[int]:
    from sklearn.preprocessing import OneHotEncoder, TargetEncoder

    if isinstance(encoder, OneHotEncoder):
        if encoder.drop is not None:
            raise _UnsupportedError("one-hot encoding with dropped categories")
        return [int(w) for w in encoder._compute_n_features_outs()]
    if isinstance(encoder, TargetEncoder):
        per = len(encoder.classes_) if encoder.target_type_ == "multiclass" else 1
        return [per] * n_columns
    return [1] * n_columns


def _dense(values: Any) -> Any:
    return values.toarray() if hasattr(values, "toarray") else values


# ---------------------------------------------------------------------------
# export and verification
# ---------------------------------------------------------------------------


def _build(estimator: Any, schema: Schema) -> tuple[bytes, dict[str, Any]]:
    import onnx
    from onnx import TensorProto, helper

    task = schema.task or "regression"
    n_classes = len(schema.classes or ())
    pipelines = _pipelines(estimator)
    inputs = _collect_inputs(schema, pipelines)
    graph = _Graph()
    builder = _Builder(graph, inputs, task, n_classes)
    output = builder.estimator(estimator)
    name = "probabilities" if task == "classification" else "values"
    if task == "regression":
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
    shape = [None, n_classes] if task == "classification" else [None]
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


def _probe_records(records: list[dict[str, Any]], schema: Schema, seed: int) -> list[dict]:
    """Held-out rows bent into the cases a server meets: missing values, unseen
    categories, boolean words, numbers at the edges."""
    if not records:
        return []
    rng = np.random.default_rng(seed)
    features = [c for c in schema.columns if c.is_feature]
    probes: list[dict[str, Any]] = [{c.name: None for c in features}]
    width = max(1, len(features))
    for _ in range(max(_MIN_PROBES, min(_MAX_PROBES, _MAX_PROBE_CELLS // width)) - 1):
        row = dict(records[int(rng.integers(len(records)))])
        for column in features:
            draw = rng.random()
            if draw < 0.15:
                row[column.name] = None
            elif draw < 0.3 and column.role in (Role.CATEGORICAL, Role.BOOLEAN, Role.TEXT):
                if column.role == Role.BOOLEAN and column.dtype == "bool":
                    row[column.name] = str(rng.choice(["YES", "no", "T", "0", "true"]))
                elif column.role == Role.BOOLEAN and column.dtype in ("int", "float"):
                    row[column.name] = [0, 1, 2, 1.0][int(rng.integers(4))]
                elif column.role == Role.BOOLEAN:
                    row[column.name] = str(rng.choice(["Yes", "off", "unseen-value", " "]))
                else:
                    row[column.name] = f"unseen-{int(rng.integers(1000))}"
            elif draw < 0.35 and column.role == Role.NUMERIC and row[column.name] is not None:
                row[column.name] = float(row[column.name]) * float(rng.choice([-10.0, 10.0]))
        probes.append(row)
    return probes


def _native_output(estimator: Any, schema: Schema, frame: pd.DataFrame) -> np.ndarray:
    from cairn.bundle import Model

    model = Model(estimator, schema)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if model.task == "classification":
            return np.asarray(model.predict_proba(frame), dtype=np.float64)
        return np.asarray(model.predict(frame), dtype=np.float64)


def _session(graph: bytes) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def _records_frame(records: list[dict[str, Any]], schema: Schema) -> pd.DataFrame:
    names = [n for n in schema.names if any(n in r for r in records[:1])]
    return pd.DataFrame.from_records(records, columns=names)


def _verify(
    graph: bytes, spec: Mapping[str, Any], schema: Schema, records: list[dict], native: np.ndarray
) -> dict[str, Any]:
    session = _session(graph)
    adapter = RecordAdapter(schema, spec)
    fast = np.asarray(session.run([spec["output"]], adapter.encode(records).feeds)[0])
    fast = fast.reshape(native.shape)
    diff = np.abs(fast - native)
    allowed = ATOL + RTOL * np.abs(native)
    bad = diff > allowed
    report: dict[str, Any] = {
        "rows": len(records),
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "values_outside_tolerance": int(bad.sum()),
        "rtol": RTOL,
        "atol": ATOL,
    }
    if schema.task == "classification" and native.size:
        report["label_mismatches"] = int((fast.argmax(axis=1) != native.argmax(axis=1)).sum())
    else:
        report["label_mismatches"] = 0
    # one record per call, as a server sees them
    timings = []
    for record in records[:50]:
        started = time.perf_counter()
        session.run([spec["output"]], adapter.encode([record]).feeds)
        timings.append(time.perf_counter() - started)
    report["onnx_ms_per_row_p50"] = round(float(np.median(timings)) * 1000, 4) if timings else None
    return report


def _serving_extras(schema: Schema, frame: pd.DataFrame, native: np.ndarray) -> dict[str, Any]:
    """Ranges for generating example payloads and bucket edges for prediction histograms."""
    ranges: dict[str, list[float]] = {}
    for column in schema.columns:
        if column.is_feature and column.role == Role.NUMERIC and column.name in frame:
            values = pd.to_numeric(frame[column.name], errors="coerce").dropna()
            if len(values):
                low, high = np.percentile(values.to_numpy(dtype=float), [1, 99])
                ranges[column.name] = [float(low), float(high)]
    if schema.task == "classification":
        buckets = [round(x, 2) for x in np.linspace(0.05, 1.0, 20)]
    elif native.size:
        edges = np.unique(np.percentile(native, np.linspace(2, 98, 17)))
        buckets = [float(f"{edge:.6g}") for edge in edges]
    else:
        buckets = []
    return {"input_ranges": ranges, "prediction_buckets": buckets}


def export_serving(
    estimator: Any,
    schema: Schema,
    X_check: pd.DataFrame,
    *,
    seed: int = 0,
) -> ExportResult:
    """Build, verify and package the serving graph for a fitted estimator.

    Never raises for a model it cannot convert: the result then says
    ``engine="native"`` and why.

    Args:
        estimator: the final fitted estimator (pipeline, bag or ensemble).
        schema: the training schema (task and classes included).
        X_check: held-out rows (features only) to verify the graph on.
    """
    started = time.monotonic()
    records = to_records(X_check.head(_MAX_CHECK_ROWS))
    native = np.zeros(0)
    try:
        if records:
            native = _native_output(estimator, schema, _records_frame(records, schema))
    except Exception as error:  # nothing to compare with: serve natively, say why
        bare: dict[str, Any] = {"format_version": SERVING_FORMAT, "task": schema.task}
        return _native_result(bare, f"the native pipeline fails on held-out rows: {error}")
    probability_or_value = native[:, -1] if native.ndim == 2 else native
    extras = _serving_extras(schema, X_check, probability_or_value)
    spec: dict[str, Any] = {
        "format_version": SERVING_FORMAT,
        "task": schema.task,
        "classes": list(schema.classes or ()),
        "target_dtype": schema.metadata.get("target_dtype"),
        **extras,
    }
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        return _native_result(spec, f"ONNX tools not installed ({error.name})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph, inputs = _build(estimator, schema)
    except _UnsupportedError as error:
        return _native_result(spec, f"not convertible: {error}")
    except Exception as error:
        return _native_result(spec, f"conversion failed: {type(error).__name__}: {error}")
    if len(graph) > _MAX_GRAPH_BYTES:
        return _native_result(
            spec,
            f"the serving graph is {len(graph) / 2**20:.0f} MiB, over the "
            f"{_MAX_GRAPH_BYTES / 2**20:.0f} MiB that cairn serves with ONNX",
        )
    probes = _probe_records(records, schema, seed)
    try:
        probe_native = _native_output(estimator, schema, _records_frame(probes, schema))
    except Exception:  # the native pipeline cannot score them: compare held-out rows only
        probes, probe_native = [], native[:0]
    try:
        checked = records + probes
        report: dict[str, Any] = (
            _verify(graph, inputs, schema, checked, np.concatenate([native, probe_native]))
            if checked
            else {"rows": 0}
        )
    except Exception as error:
        return _native_result(spec, f"verification failed: {type(error).__name__}: {error}")
    report["probe_rows"] = len(probes)
    report["seconds"] = round(time.monotonic() - started, 2)
    report["graph_mb"] = round(len(graph) / 1e6, 3)
    if not records:
        return _native_result(spec, "no held-out rows to verify the graph on", report)
    if report["values_outside_tolerance"] or report["label_mismatches"]:
        return _native_result(
            spec,
            f"verification failed: {report['values_outside_tolerance']} value(s) differ by more "
            f"than {ATOL:g} + {RTOL:g}·|value| (largest {report['max_abs_diff']:.3g}), "
            f"{report['label_mismatches']} label(s) differ",
            report,
        )
    spec.update(
        {
            "engine": "onnx",
            "graph_file": GRAPH_FILE,
            "inputs": inputs,
            "output": inputs["output"],
            "verification": report,
        }
    )
    files = {GRAPH_FILE: graph, SERVING_FILE: _dump(spec)}
    return ExportResult(files, "onnx", "", report)


def _native_result(
    spec: dict[str, Any], reason: str, report: dict[str, Any] | None = None
) -> ExportResult:
    spec = {**spec, "engine": "native", "reason": reason, "verification": report or {}}
    return ExportResult({SERVING_FILE: _dump(spec)}, "native", reason, report or {})


def _dump(spec: Mapping[str, Any]) -> bytes:
    return json.dumps(spec, indent=1, allow_nan=False, default=_plain).encode("utf-8")


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
