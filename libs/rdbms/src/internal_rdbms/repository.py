"""The generic :class:`Repository`: typed CRUD, filters and pagination for one mapped class.

Example::

    from internal_rdbms.repository import Repository

    class UserRepository(Repository[User]):
        model = User
"""

from __future__ import annotations

from internal_rdbms._repository import Repository

__all__ = ["Repository"]
