"""A small bank: an example application built on hexalchemy.

- :mod:`bank.domain` -- the aggregate (:class:`~bank.domain.Account`), its value object
  (:class:`~bank.domain.Money`) and its status enum. Plain attrs classes: no hexalchemy,
  no SQLAlchemy.
- :mod:`bank.services` -- the application service (:class:`~bank.services.Tellers`),
  written against hexalchemy's ports only.
- :mod:`bank.bootstrap` -- the composition root: wires configuration, engine, schema,
  repository and transaction manager by hand, for SQL or for in-memory tests.
"""
