"""Admin (staff only) for teams; share links show their hash, never a token (none is stored).
A membership removed here closes the member's live pages and is audited (teams/signals.py)."""
from django.contrib import admin

from .models import AuditEvent, Membership, ShareLink, Team
from .services import acting_as


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "personal", "created_by", "created_at")
    inlines = [MembershipInline]

    def changeform_view(self, request, *args, **kwargs):
        """Membership changes made here are audited with this admin as the actor
        (teams/signals.py writes the line and closes a removed member's live pages)."""
        with acting_as(request.user):
            return super().changeform_view(request, *args, **kwargs)


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ("experiment", "label", "created_by", "created_at", "expires_at", "revoked_at", "last_opened_at")
    readonly_fields = ("token_hash",)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "team", "actor_name", "verb", "object_type", "object_id", "object_label")
    list_filter = ("verb",)
