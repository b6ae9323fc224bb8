"""The whole env.py of a service: the library runs Alembic on its async engine."""

from __future__ import annotations

import os

from alembic.util import load_python_file

from internal_rdbms.migrations import run_migrations

models = load_python_file(os.path.dirname(__file__), "models.py")
run_migrations(models.metadata)
