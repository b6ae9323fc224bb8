"""Optional integrations with the other commons libraries; import the submodule you need.

``internal_fastapi.extensions.rdbms`` needs ``internal-fastapi[rdbms]`` and
``internal_fastapi.extensions.cache`` needs ``internal-fastapi[cache]``.
"""
