"""Read-only share links of an experiment over the API: list, create (the token shown once,
as the page shows it), revoke. The page's rules, asked of the same places: who may share
(permissions.py, action "share"), what a valid link is (the page's ShareLinkForm), the cap
and the audit records (teams/services.py)."""
from datetime import datetime
from typing import List, Optional

from django.http import HttpResponse
from django.urls import reverse
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from webapp.teams import permissions, selectors, services
from webapp.teams.forms import ShareLinkForm

from ..auth import WRITE_AUTH
from ..common import check_form, form_data
from ..errors import ApiError
from ..pagination import LimitOffset

router = Router(tags=["share links"])
LINKS = "/experiments/{int:experiment_id}/share-links/"
_FORM = ShareLinkForm.base_fields
EXPIRY = _FORM["expires_in_days"]


class ShareLinkIn(Schema):
    model_config = {"extra": "forbid"}

    label: str = Field("", description=f"Who it is for (at most {_FORM['label'].max_length} characters).")
    expires_in_days: Optional[int] = Field(
        None, description=f"Days until it stops opening ({EXPIRY.min_value} to {EXPIRY.max_value}); "
                          "null or left out: until revoked.")


class ShareLinkOut(Schema):
    id: int
    experiment: int
    label: str
    created_by: Optional[str] = Field(description="The username of its creator (null once deleted).")
    created_at: datetime
    expires_at: Optional[datetime]
    last_opened_at: Optional[datetime]
    revoked_at: Optional[datetime]
    active: bool = Field(description="Opens now: not revoked and not expired.")

    @staticmethod
    def resolve_experiment(obj):
        return obj.experiment_id

    @staticmethod
    def resolve_created_by(obj):
        return obj.created_by.username if obj.created_by_id else None


class ShareLinkCreated(ShareLinkOut):
    token: str = Field(description="Shown this once: only its SHA-256 is stored.")
    url: str = Field(description="The read-only page the link opens (no account needed).")


@router.get(LINKS, response=List[ShareLinkOut], summary="An experiment's share links (active, revoked, expired)",
            description="The roles that may share (editor, owner) see them; a viewer gets 403, as on the page.")
@paginate(LimitOffset)
def list_share_links(request, experiment_id: int):
    return selectors.share_links(permissions.get_experiment_or_404(request.user, experiment_id, "share"))


@router.post(LINKS, response={201: ShareLinkCreated}, auth=WRITE_AUTH, summary="Create a read-only share link",
             description="The answer holds the token and its URL this once. 409 past your cap of live links "
                         "(LAB_MAX_SHARE_LINKS_PER_USER): revoke links you no longer need.")
def create_share_link(request, experiment_id: int, payload: ShareLinkIn, response: HttpResponse):
    exp = permissions.get_experiment_or_404(request.user, experiment_id, "share")
    values = check_form(ShareLinkForm(form_data(payload.dict())))
    try:
        link, token = services.create_share_link(request.user, exp, values["label"] or "", values["expires_in_days"])
    except services.TeamError as exc:
        raise ApiError(409, str(exc)) from None
    link.token, link.url = token, request.build_absolute_uri(reverse("share-page", args=[token]))
    response["Cache-Control"] = "no-store"  # the token: shown once, kept by no cache
    return Status(201, link)


@router.delete("/share-links/{int:link_id}/", response={204: None}, auth=WRITE_AUTH, summary="Revoke a share link",
               description="It answers 404 from then on, to everyone. Revoking a revoked link changes nothing.")
def revoke_share_link(request, link_id: int):
    services.revoke_share_link(request.user, selectors.users_share_link_or_404(request.user, link_id, "share"))
    return Status(204, None)
