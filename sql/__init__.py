"""The schema migrations, ``NNNN_name.sql``, installed as the package ``signage_migrations``.

Not code: this file only makes the folder a package, so that the migrations ship inside
the wheel and ``store.migrations`` reads them with :mod:`importlib.resources`.
"""
