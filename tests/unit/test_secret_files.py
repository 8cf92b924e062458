"""Secrets rds writes are readable only by their owner (0600)."""
import os
import stat
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_make_secrets_writes_the_admin_password_and_token_0600(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python")
    fake_rds = bin_dir / "rds"  # stands in for `rds user create-admin` (needs no database)
    fake_rds.write_text("#!/bin/sh\necho rds_fake-token\n")
    fake_rds.chmod(0o755)
    var = tmp_path / "var"
    subprocess.run(["make", "--no-print-directory", "-C", REPO, "secrets", "VAR=%s" % var,
                    "BIN=%s" % bin_dir], check=True, capture_output=True, env=dict(
                        os.environ, MAKEFLAGS=""))
    for name in ("admin-password", "admin-token"):
        path = var / name
        assert path.read_text().strip()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


def test_make_secrets_tightens_files_left_by_an_older_version(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    for name in ("admin-password", "admin-token"):
        (var / name).write_text("old\n")
        (var / name).chmod(0o644)
    subprocess.run(["make", "--no-print-directory", "-C", REPO, "secrets", "VAR=%s" % var,
                    "BIN=/nonexistent"], check=True, capture_output=True)
    assert {stat.S_IMODE((var / n).stat().st_mode) for n in ("admin-password",
                                                            "admin-token")} == {0o600}
