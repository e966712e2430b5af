"""Feature preprocessing built from a table schema."""

from cairn.features.preprocess import DatetimeFeatures, build_preprocessor

__all__ = ["DatetimeFeatures", "build_preprocessor"]
