"""The roles a user can have; what each may do is ``rds_control.users.PERMISSIONS``.

Here (not in the database layer) so the policy can name them without importing
the models.
"""
import enum


class Role(enum.StrEnum):
    ADMIN = "admin"
    DEPLOYER = "deployer"
    VIEWER = "viewer"
