"""Errors the library raises. Each message names the bad value and the fix."""

__all__ = ["RagError", "ConfigError", "IngestError", "IndexFormatError", "EmptyQuestionError",
           "ModelLoadError"]


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
