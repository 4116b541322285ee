"""Fixtures for the policy tests: the shipped policy, and a folder holding it and a later version."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from policy_helpers import SHIPPED_FILE, second_version, write_policy

from jejak.lineage.policy import PolicySet, load_policies


@pytest.fixture(scope="session")
def policies() -> PolicySet:
    return load_policies()


@pytest.fixture(scope="session")
def versions_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped 2026.1 and the synthetic 2026.2 (from 1 July 2026) in one folder."""
    folder = tmp_path_factory.mktemp("versions")
    shutil.copy(SHIPPED_FILE, folder / "2026-01-01.yaml")
    write_policy(folder / "2026-07-01.yaml", second_version())
    return folder


@pytest.fixture(scope="session")
def two_versions(versions_dir: Path) -> PolicySet:
    return load_policies(versions_dir)
