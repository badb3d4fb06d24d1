"""Forms of the teams app (every one is posted with Django's CSRF token)."""
from django import forms

from .models import Membership


class TeamForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="e.g. the project or group that shares results.")


class InviteForm(forms.Form):
    who = forms.CharField(label="Username or e-mail", max_length=254)
    role = forms.ChoiceField(choices=Membership.ROLE_CHOICES, initial=Membership.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.ROLE_CHOICES)


class ShareLinkForm(forms.Form):
    label = forms.CharField(max_length=120, required=False, help_text="Who it is for, e.g. reviewers.")
    expires_in_days = forms.IntegerField(label="Expires after (days)", min_value=1, max_value=3650,
                                         required=False, help_text="Empty = until revoked.")
