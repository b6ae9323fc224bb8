"""Settings of every internal_aws client: :class:`AwsSettings` (env ``COMMONS_AWS_*``, YAML ``aws:``).

With no settings passed, every client calls ``AwsSettings.load()``: init → environment → the YAML
file named by ``COMMONS_CONFIG_FILE`` → ``.env`` → defaults.
"""

from __future__ import annotations

from internal_aws._config import AwsSettings

__all__ = ["AwsSettings"]
