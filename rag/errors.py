"""Errors the library raises. Each message names the bad value and the fix."""

__all__ = ["RagError", "ConfigError", "IngestError", "IndexFormatError", "EmptyQuestionError",
           "ModelLoadError", "IndexBusyError", "IndexVersionError", "IndexWriteError"]


class RagError(Exception):
    """Base class for every error this library raises on purpose."""


class ConfigError(RagError, ValueError):
    """A configuration value or key is invalid."""


class IngestError(RagError):
    """An issue file cannot be read (missing, binary, empty or undecodable)."""


class IndexFormatError(RagError):
    """The index on disk is missing, incomplete or does not match the configuration."""


class EmptyQuestionError(RagError, ValueError):
    """The question is empty or only whitespace."""


class ModelLoadError(RagError):
    """The embedding model cannot be loaded."""


class IndexBusyError(RagError):
    """Another sync holds the index folder's writer lock (and the caller chose not to wait)."""


class IndexVersionError(IndexFormatError):
    """The index was written in a newer format than this version reads; upgrading reads it."""


class IndexWriteError(RagError):
    """The new index could not be written (disk full, size limit, permissions); the old one is live."""
