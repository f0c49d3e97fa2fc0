"""Shared Lambda code is copied into an asset at synth, from its one source file."""

from pathlib import Path

import pytest

from cdk_app.lambda_assets import READING_CONTRACT, SharedPackage, lambda_code

LAMBDAS = Path(__file__).resolve().parents[3] / "lambdas"


def test_the_reading_contract_names_the_validators_modules():
    names = [path.name for path in READING_CONTRACT.files(LAMBDAS)]
    assert names == ["__init__.py", "reading.py", "envelope.py"]


def test_a_missing_shared_module_is_named():
    with pytest.raises(FileNotFoundError, match=r"nothere\.py"):
        SharedPackage("validator", "validator", ("nothere",)).files(LAMBDAS)


def test_a_folder_that_would_hide_the_shared_copy_is_refused(tmp_path):
    (tmp_path / "fn" / "validator").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="would hide"):
        lambda_code(tmp_path / "fn", [READING_CONTRACT])
