"""Teams, memberships with roles, read-only share links and the audit trail."""
import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone


class Team(models.Model):
    """A group that owns tasks and experiments. Each user has exactly one personal team
    (`personal=True`, one member: the user as owner)."""

    name = models.CharField(max_length=120)
    personal = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+",
                                   on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-personal", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["created_by"], condition=models.Q(personal=True),
                                    name="team_one_personal_per_user"),
        ]

    def __str__(self):
        return "Personal space" if self.personal else self.name


class Membership(models.Model):
    OWNER, EDITOR, VIEWER = "owner", "editor", "viewer"
    ROLE_CHOICES = [(OWNER, "owner"), (EDITOR, "editor"), (VIEWER, "viewer")]

    team = models.ForeignKey(Team, related_name="memberships", on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="memberships", on_delete=models.CASCADE)
    role = models.CharField(max_length=8, choices=ROLE_CHOICES, default=VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "user__username"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="membership_unique")]

    def __str__(self):
        return f"{self.user} ({self.role}) in {self.team}"


def hash_token(token):
    """Only this hash of a share token is stored; the token itself is shown once."""
    return hashlib.sha256(token.encode()).hexdigest()


class ShareLink(models.Model):
    """A read-only link to one experiment's results."""

    experiment = models.ForeignKey("lab.Experiment", related_name="share_links", on_delete=models.CASCADE)
    token_hash = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=120, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, related_name="+",
                                   on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_opened_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.label or f"link {self.pk}"

    @property
    def active(self):
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


class AuditEvent(models.Model):
    """Who did what to which object, and when. Kept when the object is deleted (the label stays)."""

    team = models.ForeignKey(Team, related_name="audit_events", on_delete=models.CASCADE)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, related_name="+", on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=150, blank=True)
    verb = models.CharField(max_length=24)
    object_type = models.CharField(max_length=24)
    object_id = models.BigIntegerField(null=True)
    object_label = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["team", "-at"])]

    def __str__(self):
        return f"{self.actor_name} {self.verb} {self.object_type} {self.object_label}"
