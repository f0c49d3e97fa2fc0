"""What the stack (cdk_app) and the compactor must agree on, beyond the environment."""

from cdk_app.analytics import COMPACTED_COLUMNS as STACK_COLUMNS
from cdk_app.compaction import TEMP_TABLE_PREFIX as STACK_TEMP_PREFIX
from cdk_app.storage import COMPACTED_TAG as STACK_TAG
from compactor.files import COMPACTED_TAG
from compactor.sql import COMPACTED_COLUMNS, TEMP_TABLE_PREFIX, temporary_table


def test_temporary_tables_are_named_as_glue_access_is_granted():
    assert TEMP_TABLE_PREFIX == STACK_TEMP_PREFIX
    assert temporary_table("20261122T120000Z-0a1b2c3d", "2026-11-22").startswith(STACK_TEMP_PREFIX)


def test_the_compacted_tag_is_the_one_the_raw_lifecycle_rule_filters_on():
    assert STACK_TAG == COMPACTED_TAG


def test_the_ctas_writes_the_compacted_table_columns_in_order():
    assert tuple(c.name for c in STACK_COLUMNS) == COMPACTED_COLUMNS
