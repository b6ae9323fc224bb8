"""Cross-library tests use the commons service fixtures."""

pytest_plugins = ["internal_testing.plugin"]
