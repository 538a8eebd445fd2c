"""Logging: DataLogger and LogPackage, and archives (compress_npy_logs, LogArchiveReader)."""

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
from .reader import LogArchiveReader, discover_log_archives

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
