"""Cited answers over Chinese community newspapers: ingest, index, retrieve, compose."""

import logging

from .api import answer
from .compose import Answer, Citation
from .config import Config
from .errors import (ConfigError, EmptyQuestionError, IndexBusyError, IndexFormatError,
                     IndexVersionError, IndexWriteError, IngestError, ModelLoadError, RagError)
from .index import Index
from .retrieve import Hit
from .service import Assistant
from .sync import SyncReport, sync_index

__all__ = ["answer", "Answer", "Citation", "Hit", "Config", "Index", "Assistant", "sync_index",
           "SyncReport", "RagError", "ConfigError", "IngestError", "IndexFormatError",
           "EmptyQuestionError", "ModelLoadError", "IndexBusyError", "IndexVersionError", "IndexWriteError"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
