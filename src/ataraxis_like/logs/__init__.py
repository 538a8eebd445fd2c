"""Logging: DataLogger and LogPackage, and archives (compress_npy_logs, LogArchiveReader)."""

from ._archive_layout import discover_log_archives
from .archive import assemble_log_archives, compress_npy_logs
from .logger import (
    DataLogger,
    LoggerError,
    LoggerInUseError,
    LoggerSettingError,
    LoggerStoppedError,
    LogQueue,
)
from .package import InvalidPackageError, LogPackage, PackageValueError
from .reader import LogArchiveReader

__all__ = [
    "DataLogger",
    "InvalidPackageError",
    "LogArchiveReader",
    "LogPackage",
    "LogQueue",
    "LoggerError",
    "LoggerInUseError",
    "LoggerSettingError",
    "LoggerStoppedError",
    "PackageValueError",
    "assemble_log_archives",
    "compress_npy_logs",
    "discover_log_archives",
]
