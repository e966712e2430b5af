"""Features from a table schema: the preprocessing of every pipeline, feature
selection and a PCA projection."""

from cairn.features.pca import with_pca
from cairn.features.preprocess import (
    MISSING_CATEGORY,
    BooleanEncoder,
    CategoryCodes,
    DatetimeFeatures,
    FrequencyEncoder,
    RangeClipper,
    TextVectorizer,
    build_preprocessor,
    to_category_strings,
    to_float_frame,
)
from cairn.features.selection import useless_features

__all__ = [
    "MISSING_CATEGORY",
    "BooleanEncoder",
    "CategoryCodes",
    "DatetimeFeatures",
    "FrequencyEncoder",
    "RangeClipper",
    "TextVectorizer",
    "build_preprocessor",
    "to_category_strings",
    "to_float_frame",
    "useless_features",
    "with_pca",
]
