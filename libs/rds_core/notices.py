"""What rds tells people about: notification events and channel kinds.

Plain values shared by the models, the control plane (which decides what
happened) and the delivery code (which says it on a channel).
"""
import enum


class NoticeEvent(enum.StrEnum):
    """Something a project's subscribers may want to hear about."""

    BUILD_FAILED = "build_failed"
    INSTALLED = "installed"
    ACTIVATED = "activated"
    ROLLED_BACK = "rolled_back"
    ACTIVATION_FAILED = "activation_failed"
    #: Sent once the migrations issue records ``migration.failed`` audit entries.
    MIGRATION_FAILED = "migration_failed"
    BAN_SET = "ban_set"
    BAN_LIFTED = "ban_lifted"
    #: The global deployment switch was turned off or on (every subscribed project hears it).
    DEPLOYMENT_SWITCH = "deployment_switch"


class ChannelKind(enum.StrEnum):
    EMAIL = "email"
    #: Slack-compatible incoming webhook: ``{"text": ...}``.
    SLACK = "slack"
    #: Generic JSON body signed with HMAC-SHA256 (header ``X-Rds-Signature``).
    WEBHOOK = "webhook"


#: Title of each event, as messages and the UI say it.
TITLES = {
    NoticeEvent.BUILD_FAILED: "build failed",
    NoticeEvent.INSTALLED: "installed",
    NoticeEvent.ACTIVATED: "activated",
    NoticeEvent.ROLLED_BACK: "rolled back",
    NoticeEvent.ACTIVATION_FAILED: "activation failed",
    NoticeEvent.MIGRATION_FAILED: "migration failed",
    NoticeEvent.BAN_SET: "release ban set",
    NoticeEvent.BAN_LIFTED: "release ban lifted",
    NoticeEvent.DEPLOYMENT_SWITCH: "deployment switched on/off",
}
