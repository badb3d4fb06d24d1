"""Teams the user belongs to, with their role (to choose the `team` of new objects)."""
from typing import List

from ninja import Router, Schema
from ninja.pagination import paginate

from webapp.teams import permissions

from ..pagination import LimitOffset

router = Router(tags=["teams"])


class TeamOut(Schema):
    id: int
    name: str
    personal: bool
    role: str


@router.get("/", response=List[TeamOut], summary="Teams you belong to, with your role")
@paginate(LimitOffset)
def list_teams(request):
    # str(team): the name the pages show ("Personal space"), not the stored "<user> (personal)"
    return [{"id": t.pk, "name": str(t), "personal": t.personal, "role": r}
            for t, r in permissions.memberships(request.user)]
