"""Settings of ``internal_rdbms``: :class:`RdbmsSettings` (env ``COMMONS_RDBMS_``, YAML ``rdbms:``).

Example::

    from internal_rdbms.config import RdbmsSettings

    settings = RdbmsSettings.load()  # init → env → YAML (COMMONS_CONFIG_FILE) → .env → defaults
"""

from __future__ import annotations

from internal_rdbms._config import RdbmsSettings, normalize_url

__all__ = ["RdbmsSettings", "normalize_url"]
