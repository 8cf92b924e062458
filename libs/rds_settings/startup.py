"""Process start-up chores shared by every rds entry point, in one place.

``quiet_warnings()`` silences the warnings we cannot act on and that would
otherwise open every service log: eventlet's "Eventlet is deprecated" banner
and its fork warning, and setuptools' "pkg_resources is deprecated" (nameko
2.14's CLI imports it). Call it before importing eventlet or nameko;
``PYTHONWARNINGS`` cannot match a multi-line message, hence code.
"""
import warnings

#: message regexes of every warning rds silences, and why.
SILENCED = (
    # eventlet is in bugfix mode; nameko 2.14 has no other concurrency (README "Dependencies")
    r"\s*Eventlet is deprecated",
    r"Using fork\(\) is a bad idea",
    # nameko 2.14's CLI imports pkg_resources; setuptools is pinned below its removal
    r"pkg_resources is deprecated",
)


def quiet_warnings() -> None:
    for message in SILENCED:
        warnings.filterwarnings("ignore", message=message)
