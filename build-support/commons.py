# BUILD-file macros (loaded through [GLOBAL] build_file_prelude_globals).
#
# Each library has its own resolve (lockfile). A library imported by others must also exist in each of
# their resolves, so its sources and requirements are parametrized over all of them. The table below is
# the one place that says who imports whom, read forwards ("fastapi depends on base, rdbms, cache"); the
# resolves each library lives in are computed from it.

# (Prelude globals must be hashable, hence tuples.)
_DEPENDS_ON = (
    ("base", ()),
    ("cache", ("base",)),
    ("rdbms", ("base",)),
    ("aws", ("base",)),
    ("http", ("base",)),
    # rdbms, cache, http and aws back the optional extras of the same names (internal_fastapi.extensions).
    ("fastapi", ("base", "rdbms", "cache", "http", "aws")),
    # The pytest plugin imports no library; every library's tests load it instead (see _TESTED_WITH).
    ("testing", ()),
)
# Every library's tests run with the testing plugin, so it lives in every library's resolve.
_TESTED_WITH = ("testing",)
# Cross-library tests and benchmarks: every library together, as a service installs them.
_EVERYTHING = "commons"


def library_names():
    """Every library, as named in the dependency table (for BUILD files that cover them all)."""
    return tuple(name for name, _ in _DEPENDS_ON)


def _depends_on(lib):
    """`lib` and everything it imports, transitively."""
    seen, todo = [lib], [lib]
    table = dict(_DEPENDS_ON)
    for _ in range(len(table)):  # Starlark-style: no while loops in BUILD macros
        if not todo:
            break
        todo = [dep for name in todo for dep in table[name] if dep not in seen]
        seen.extend(todo)
    return seen


def _users(lib):
    """The resolves that need a copy of `lib`: its own, every library that imports or tests with it,
    and the cross-library resolve."""
    libs = [name for name, _ in _DEPENDS_ON]
    users = [name for name in libs if lib in _depends_on(name) or lib in _TESTED_WITH]
    return tuple(users) + (_EVERYTHING,)


def library_resolves(lib):
    """The resolves that hold a copy of `lib`: its own and those of every library importing it."""
    return parametrize(*_users(lib))


def commons_library(
    lib,
    version,
    description,
    extras_require=None,
    entry_points=None,
    not_imported=(),
    not_published=(),
):
    """The requirements and the wheel of one library (for libs/<lib>/BUILD).

    The wheel's requirements are what Pants infers from the imports. `not_imported` names declared
    runtime requirements no module imports (e.g. uvicorn[standard] for servers), `not_published` the
    inferred ones that are for development only (type stubs). `.ci/check_wheels.py` proves the
    result equals pyproject.toml.
    """
    python_requirements(name="reqs", source="pyproject.toml", resolve=library_resolves(lib))
    python_distribution(
        name="dist",
        # The wheel must own every parametrized copy of the sources, or dependents fail to package.
        dependencies=[f"libs/{lib}/src/internal_{lib}@resolve={r}" for r in _users(lib)]
        + [f"libs/{lib}:reqs#{req}@resolve={lib}" for req in not_imported]
        + [f"!!libs/{lib}:reqs#{req}@resolve={r}" for req in not_published for r in _users(lib)]
        # An entry point's module has one copy per resolve: name the library's own.
        + [
            f"libs/{lib}/src/{target.split(':')[0].replace('.', '/')}.py@resolve={lib}"
            for group in (entry_points or {}).values()
            for target in group.values()
        ],
        provides=python_artifact(
            name=f"internal-{lib}",
            version=version,
            description=description,
            long_description_content_type="text/markdown",
            license="Apache-2.0",
            python_requires=">=3.11",
            extras_require=extras_require or {},
            # Exactly the Pythons CI tests (pyproject.toml says the same; .ci/check_wheels.py compares).
            classifiers=[
                "Programming Language :: Python :: 3.11",
                "Programming Language :: Python :: 3.12",
                "Programming Language :: Python :: 3.13",
                "Typing :: Typed",
            ],
        ),
        entry_points=entry_points or {},
        long_description_path=f"libs/{lib}/README.md",
        generate_setup=True,
        repositories=["@commons"],
    )


def library_test_utils(lib, dependencies=()):
    """The conftest.py target of libs/<lib>/tests (for libs/<lib>/tests/BUILD).

    conftest.py loads the shared service fixtures by name, which Pants cannot infer, and the tests get
    every requirement the library declares (test extras included), since some are loaded lazily, and
    every module of the library (the public-API check imports modules by name).
    """
    python_test_utils(
        dependencies=[
            f"libs/testing/src/internal_testing/plugin.py@resolve={lib}",
            f"libs/{lib}:reqs@resolve={lib}",
            f"libs/{lib}/src/internal_{lib}@resolve={lib}",
            *dependencies,
        ]
    )
