"""The base of the sockets on a whole workspace (its sidebar, its sources page)."""

from typing import Any

from realtime.consumers import MemberSocket

from .models import Workspace
from .selectors import workspace_get_for_member


class WorkspaceSocket(MemberSocket):
    """A member's socket on the workspace of the URL's ``workspace_id``."""

    workspace: Workspace

    def object_get(self, user: Any) -> None:
        self.workspace = workspace_get_for_member(
            user=user, workspace_id=self.scope["url_route"]["kwargs"]["workspace_id"]
        )
