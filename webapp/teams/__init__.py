"""Teams: membership and roles, read-only share links and the audit trail.

Every permission rule of the project lives in `permissions.py`."""
