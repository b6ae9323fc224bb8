"""Optional integrations with the other commons libraries; import the submodule you need.

Each needs the extra of the same name: ``internal_fastapi.extensions.rdbms`` needs
``internal-fastapi[rdbms]``, ``.cache`` needs ``[cache]``, ``.http`` needs ``[http]`` and ``.aws``
needs ``[aws]``. Importing one without its library is an ``ImportError`` naming the extra.
"""
