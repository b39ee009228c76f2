"""hexalchemy: persistence for Python services in the hexagonal style.

Import the layer you need: :mod:`hexalchemy.ports` (protocols, value types, errors),
:mod:`hexalchemy.rules` (factories, validation, ids, hashing, policies),
:mod:`hexalchemy.sqlalchemy` (SQLAlchemy Core adapters), :mod:`hexalchemy.testing`
(in-memory adapters and the contract suite). Importing this package has no side effects.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
