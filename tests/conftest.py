pytest_plugins = [
    "tests.fixtures.personas",
    "tests.fixtures.gateway",
]
