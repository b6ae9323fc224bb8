pytest_plugins = ["internal_testing.plugin"]
