"""Logging: DataLogger and LogPackage now, archives (compress and read) on top of them."""

from .logger import DataLogger, LoggerError, LoggerInUseError, LoggerStoppedError, LogQueue
from .package import InvalidPackageError, LogPackage, PackageValueError

__all__ = [
    "DataLogger",
    "InvalidPackageError",
    "LogPackage",
    "LogQueue",
    "LoggerError",
    "LoggerInUseError",
    "LoggerStoppedError",
    "PackageValueError",
]
