"""Where the load run keeps its devices' spools."""

from __future__ import annotations

import shutil
import stat

import pytest

from demo.load import MEMORY_FOLDER, spool_folder


def test_by_default_the_spools_are_in_the_state_folder(tmp_path):
    assert spool_folder(tmp_path, in_memory=False) == tmp_path / "spools"


@pytest.mark.skipif(not MEMORY_FOLDER.is_dir(), reason="no /dev/shm here")
def test_in_memory_each_run_has_a_new_private_folder_in_dev_shm(tmp_path):
    first, second = spool_folder(tmp_path, True), spool_folder(tmp_path, True)
    try:
        assert first != second
        for folder in (first, second):
            assert folder.parent == MEMORY_FOLDER
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    finally:
        shutil.rmtree(first)
        shutil.rmtree(second)
