# BUILD-file macros (loaded through [GLOBAL] build_file_prelude_globals).
#
# Each library has its own resolve (lockfile). A library imported by others must also exist in each of
# their resolves, so its sources and requirements are parametrized over all of them. This table is the
# one place that says who imports whom; see DESIGN in README.md.

# (Prelude globals must be hashable, hence tuples.)
_USERS = (
    ("base", ("base", "cache", "rdbms", "aws", "fastapi", "http", "commons")),
    ("cache", ("cache", "fastapi", "commons")),
    ("rdbms", ("rdbms", "fastapi", "commons")),
    ("aws", ("aws", "commons")),
    ("fastapi", ("fastapi", "commons")),
    ("http", ("http", "commons")),
    ("testing", ("testing", "base", "cache", "rdbms", "aws", "fastapi", "http", "commons")),
)


def _users(lib):
    return dict(_USERS)[lib]


def library_resolves(lib):
    """The resolves that hold a copy of `lib`: its own and those of every library importing it."""
    return parametrize(*_users(lib))


def commons_library(lib, version, description, extras_require=None, entry_points=None):
    """The requirements and the wheel of one library (for libs/<lib>/BUILD)."""
    python_requirements(name="reqs", source="pyproject.toml", resolve=library_resolves(lib))
    python_distribution(
        name="dist",
        # The wheel must own every parametrized copy of the sources, or dependents fail to package.
        dependencies=[f"libs/{lib}/src/internal_{lib}@resolve={r}" for r in _users(lib)],
        provides=python_artifact(
            name=f"internal-{lib}",
            version=version,
            description=description,
            long_description_content_type="text/markdown",
            license="Apache-2.0",
            python_requires=">=3.11",
            extras_require=extras_require or {},
            classifiers=["Typing :: Typed", "Programming Language :: Python :: 3.11"],
        ),
        entry_points=entry_points or {},
        long_description_path=f"libs/{lib}/README.md",
        generate_setup=True,
        repositories=["@commons"],
    )


def library_test_utils(lib, dependencies=()):
    """The conftest.py target of libs/<lib>/tests (for libs/<lib>/tests/BUILD).

    conftest.py loads the shared service fixtures by name, which Pants cannot infer, and the tests get
    every requirement the library declares (test extras included), since some are loaded lazily.
    """
    python_test_utils(
        dependencies=[
            f"libs/testing/src/internal_testing/plugin.py@resolve={lib}",
            f"libs/{lib}:reqs@resolve={lib}",
            *dependencies,
        ]
    )
