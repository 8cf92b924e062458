"""How API responses look: plain dicts built from rows (one place per shape)."""
from rds_core.lifecycle import ACTIVATABLE, IN_PROGRESS, ReleaseStatus


def _iso(value):
    return value.isoformat() if value is not None else None


def server_dict(server):
    return {"id": server.id, "host": server.host, "port": server.port, "user": server.user,
            "current_version": server.current_version,
            "current_checked_at": _iso(server.current_checked_at)}


def project_dict(project, live=None):
    return {
        "name": project.name, "repository": project.repository,
        "default_ref": project.default_ref, "deploy_path": project.deploy_path,
        "agent_pool": project.agent_pool, "keep_releases": project.keep_releases,
        "post_migration_delay_days": project.post_migration_delay_days,
        "upload_concurrency": project.upload_concurrency,
        "upload_max_failures": project.upload_max_failures,
        "shared_files": project.shared_files, "shared_dirs": project.shared_dirs,
        "servers": [server_dict(s) for s in project.servers],
        "scripts": {s.kind: s.body for s in project.scripts},
        "live_version": live.version if live is not None else None,
        "created_at": _iso(project.created_at),
    }


def task_dict(task, with_log=False):
    data = {
        "id": task.id, "kind": task.kind, "status": task.status, "agent": task.agent,
        "created_at": _iso(task.created_at), "started_at": _iso(task.started_at),
        "finished_at": _iso(task.finished_at), "error": task.error, "steps": task.steps,
    }
    if with_log:
        data["log"] = "".join(chunk.text for chunk in sorted(
            task.logs, key=lambda c: (c.created_at, c.seq)))
    return data


def release_dict(release, with_log=False):
    status = ReleaseStatus(release.status)
    return {
        "id": release.id, "project": release.project.name, "version": release.version,
        "status": status.value, "release_line": release.release_line,
        "comment": release.comment, "ref": release.ref, "commit": release.commit,
        "author": release.user.username if release.user is not None else None,
        "previous_version": release.previous_version, "last_error": release.last_error,
        "build_attempts": release.build_attempts,
        "deleted": release.deleted_at is not None,
        "can_activate": status in ACTIVATABLE and release.deleted_at is None,
        "can_cancel": status in IN_PROGRESS,
        "servers": [{"server_id": t.server_id, "server": t.server.label, "state": t.state,
                     "error": t.error} for t in release.targets],
        "created_at": _iso(release.created_at), "build_started_at": _iso(release.build_started_at),
        "built_at": _iso(release.built_at), "installed_at": _iso(release.installed_at),
        "activated_at": _iso(release.activated_at),
        "tasks": [task_dict(t, with_log=with_log) for t in release.tasks],
    }


def agent_dict(agent, online):
    return {"name": agent.name, "service": agent.service, "pool": agent.pool,
            "host": agent.host, "pid": agent.pid, "version": agent.version,
            "online": online, "running_tasks": agent.running_tasks,
            "first_seen_at": _iso(agent.first_seen_at),
            "last_heartbeat_at": _iso(agent.last_heartbeat_at)}
