"""First pass over the fitted pipelines: which column feeds which graph input,
and every category string and text term the models know."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cairn.data.schema import Role, Schema
from cairn.export._common import BOOLEAN_FALSE, BOOLEAN_TRUE, UnsupportedError
from cairn.records import (
    FIRST_CODE,
)


@dataclass
class Inputs:
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
                entry["true_words"] = list(BOOLEAN_TRUE)
                entry["false_words"] = list(BOOLEAN_FALSE)
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


def pipeline_steps(transformer: Any) -> list[Any]:
    from sklearn.pipeline import Pipeline

    if isinstance(transformer, Pipeline):
        return [step for _, step in transformer.steps if step is not None and step != "passthrough"]
    return [transformer]


def function_name(step: Any) -> str | None:
    from sklearn.preprocessing import FunctionTransformer

    if isinstance(step, FunctionTransformer):
        return getattr(step.func, "__name__", None)
    return None


def fitted_pipelines(estimator: Any) -> list[Any]:
    """Every fitted (prep, model) pipeline inside the estimator."""
    from sklearn.pipeline import Pipeline

    from cairn.models.ensemble import BaggedModel, EnsembleModel

    if isinstance(estimator, EnsembleModel):
        return [p for member in estimator.members for p in fitted_pipelines(member)]
    if isinstance(estimator, BaggedModel):
        return [p for member in estimator.models for p in fitted_pipelines(member)]
    if isinstance(estimator, Pipeline) and "prep" in estimator.named_steps:
        from cairn.features.preprocess import CategoryCodes

        if isinstance(estimator.named_steps["prep"], CategoryCodes):
            raise UnsupportedError("CatBoost with native categories (target statistics)")
        return [estimator]
    raise UnsupportedError(f"{type(estimator).__name__} is not a cairn pipeline, bag or ensemble")


def column_encoder(prep: Any) -> Any:
    """The ColumnTransformer inside a clustering preparation (the schema's
    column encoding); ``prep`` itself when it is one."""
    from sklearn.pipeline import Pipeline

    if isinstance(prep, Pipeline) and "encode" in prep.named_steps:
        encode = prep.named_steps["encode"]
        if isinstance(encode, Pipeline) and "columns" in encode.named_steps:
            return encode.named_steps["columns"]
    return prep


def columns_of(columns: Any) -> list[str]:
    if isinstance(columns, str):
        return [columns]
    return [str(c) for c in columns]


def collect_inputs(schema: Schema, pipelines: Sequence[Any]) -> Inputs:
    """First pass: which columns feed which input, and every known category string."""
    from cairn.features.preprocess import (
        MISSING_CATEGORY,
        BooleanEncoder,
        DatetimeFeatures,
        FrequencyEncoder,
        TextVectorizer,
    )

    inputs = Inputs(schema)
    strings: dict[str, set[str]] = {}
    for column in schema.columns:
        if column.is_feature and column.role in (Role.CATEGORICAL, Role.BOOLEAN):
            strings[column.name] = set(column.categories or ())
    used: dict[str, str] = {}
    for pipeline in pipelines:
        prep = column_encoder(pipeline.named_steps["prep"])
        for _, transformer, columns in prep.transformers_:
            if isinstance(transformer, str):
                if transformer == "drop":
                    continue
                raise UnsupportedError(f"column transformer step {transformer!r}")
            names = columns_of(columns)
            for name in names:
                if name not in schema or not schema[name].is_feature:
                    raise UnsupportedError(f"column {name!r} is not a feature of the schema")
            steps = pipeline_steps(transformer)
            first = steps[0]
            kind: str
            if function_name(first) == "to_float_frame":
                kind = "num"
            elif function_name(first) == "to_category_strings" or isinstance(
                first, BooleanEncoder | FrequencyEncoder
            ):
                kind = "cat"
            elif isinstance(first, DatetimeFeatures):
                kind = "dt"
            elif isinstance(first, TextVectorizer):
                kind = "text"
            else:
                raise UnsupportedError(f"preprocessing step {type(first).__name__}")
            for name in names:
                if used.setdefault(name, kind) != kind:
                    raise UnsupportedError(f"column {name!r} is encoded in two ways")
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


def _add_vocabulary(inputs: Inputs, name: str, vectorizer: Any) -> None:
    if (
        vectorizer.analyzer != "word"
        or vectorizer.tokenizer is not None
        or vectorizer.preprocessor is not None
        or vectorizer.stop_words is not None
        or vectorizer.strip_accents is not None
        or vectorizer.input != "content"
        or vectorizer.norm not in ("l2", None)
    ):
        raise UnsupportedError(f"text column {name!r}: vectorizer options without an ONNX form")
    params = {
        "lowercase": bool(vectorizer.lowercase),
        "token_pattern": str(vectorizer.token_pattern),
        "ngram_range": list(vectorizer.ngram_range),
    }
    if inputs.text_params.setdefault(name, params) != params:
        raise UnsupportedError(f"text column {name!r}: models tokenize it differently")
    terms = inputs.text.setdefault(name, [])
    seen = set(terms)
    for term in sorted(getattr(vectorizer, "vocabulary_", {}) or {}):
        if term not in seen:
            terms.append(term)
            seen.add(term)
