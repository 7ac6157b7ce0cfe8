"""The operator image's Dockerfile, checked without a Docker engine (none runs here; the
image itself is built by hack/kind-e2e.sh where one does): hadolint finds nothing, the image
is built in stages, and it runs as a numeric non-root user, which `runAsNonRoot` needs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "Dockerfile"


def hadolint() -> str:
    beside = Path(sys.executable).parent / "hadolint"  # installed by the test extra
    return str(beside) if beside.exists() else shutil.which("hadolint") or "hadolint"


def instructions(keyword: str) -> list[str]:
    lines = DOCKERFILE.read_text().splitlines()
    return [line.split(None, 1)[1] for line in lines if line.startswith(f"{keyword} ")]


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    result = subprocess.run(
        [hadolint(), "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_built_in_stages_from_a_slim_base() -> None:
    bases = instructions("FROM")
    assert len(bases) >= 2
    assert all("slim" in base for base in bases)


def test_image_runs_as_a_numeric_non_root_user() -> None:
    user = instructions("USER")[-1]
    uid = user.split(":")[0]
    assert uid.isdigit(), user
    assert int(uid) != 0, user
