"""LightningDataModules: the lessons' data sets, built once as tensors and kept on the training device."""

from fizzlightning.data.artist import ArtistDataModule
from fizzlightning.data.base import InMemoryDataModule
from fizzlightning.data.fizzbuzz import MAX_NUM_DIGITS, FizzBuzzDataModule
from fizzlightning.data.regression import CurveDataModule, RegressionDataModule

__all__ = [
    "ArtistDataModule",
    "CurveDataModule",
    "FizzBuzzDataModule",
    "InMemoryDataModule",
    "MAX_NUM_DIGITS",
    "RegressionDataModule",
]
