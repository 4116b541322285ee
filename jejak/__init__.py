"""jejak: an event-driven privacy audit and data-lineage pipeline.

Sub-packages: :mod:`jejak.schemas` (the event contract), :mod:`jejak.producers`
(the SDK product services use), :mod:`jejak.lineage` (policy engine, store,
queries) and :mod:`jejak.consumers` (the Kafka workers). This package itself
holds only what they all share: settings, errors and the command line.
"""

from jejak.errors import JejakError

__version__ = "0.1.0"
__all__ = ["JejakError", "__version__"]
