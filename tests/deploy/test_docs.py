"""What README and docs/deploy.md point at exists: the picture of a demo run and the script that
draws it again, and the Grafana dashboard."""

from __future__ import annotations

import os
import re
import struct

from conftest import GRAFANA_DASHBOARD, REPO

README = REPO / "README.md"
DEPLOY_DOC = REPO / "docs" / "deploy.md"
PICTURE = REPO / "docs" / "session.png"
PICTURE_SCRIPT = REPO / "scripts" / "picture.sh"
PICTURE_REQUIREMENTS = REPO / "scripts" / "picture-requirements.txt"


def test_readme_shows_the_session_picture():
    """docs/session.png is a real PNG of a readable size, README shows it and says how to make
    it again."""
    data = PICTURE.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    assert 800 <= width <= 2000 and 500 <= height <= 1600, (width, height)
    readme = README.read_text()
    assert re.search(r"!\[[^\]]+\]\(docs/session\.png\)", readme)
    assert "scripts/picture.sh" in readme


def test_the_picture_script_is_runnable_and_pinned():
    """scripts/picture.sh is executable and installs exact versions only."""
    assert os.access(PICTURE_SCRIPT, os.X_OK)
    assert "scripts/picture.py" in PICTURE_SCRIPT.read_text()
    lines = [
        line.strip()
        for line in PICTURE_REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert any(line.startswith("matplotlib==") for line in lines)
    assert [line for line in lines if not re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*", line)] == []


def test_the_docs_point_at_the_dashboard():
    path = GRAFANA_DASHBOARD.relative_to(REPO).as_posix()
    assert path in README.read_text()
    assert path in DEPLOY_DOC.read_text()
    assert "## Grafana dashboard" in DEPLOY_DOC.read_text()
