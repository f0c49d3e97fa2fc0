"""QuickSight (opt-in: context `quicksightPrincipalArn`): an Athena data source with its own role,
a SPICE dataset over the compacted table refreshed every hour, and an analysis and a dashboard
with the four visuals of dashboards/quicksight/definition.json (the shape of QuickSight's
DescribeDashboardDefinition, so a definition edited in the console can be copied back; its
`hour_of_day` is a calculated field of the definition).

QuickSight needs an account subscription and a QuickSight user or group to own what is created;
neither can be made by CloudFormation, so the construct is only added when a principal ARN is set.

Refreshes: every hour an incremental refresh re-imports the readings that arrived in the last
day (the lookback window on `arrival_ts` covers compaction's lag and readings spooled on a device
for up to a day before they were sent); once a week a full refresh picks up anything older that
was compacted late.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_quicksight as quicksight
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_app.analytics import COMPACTED_COLUMNS, GLUE_READ_ACTIONS, Analytics
from cdk_app.secure_defaults import ROOT, acknowledge_wildcards
from cdk_app.storage import COMPACTED_PREFIX

DEFINITION = ROOT / "dashboards" / "quicksight" / "definition.json"
DATASET_IDENTIFIER = "readings"  # the dataset's name inside the definition
PHYSICAL_TABLE = "compacted-readings"
RESULTS_PREFIX = "athena/"  # the workgroup's result location (cdk_app/analytics.py)
LOOKBACK_DAYS = 1
# Glue type -> QuickSight input column type (and sub-type); arrays (flags) are left out.
COLUMN_TYPES = {
    "string": ("STRING", None),
    "bigint": ("INTEGER", None),
    "int": ("INTEGER", None),
    "double": ("DECIMAL", "FLOAT"),
    "timestamp": ("DATETIME", None),
}

DATA_SOURCE_ACTIONS = [
    "quicksight:DescribeDataSource",
    "quicksight:DescribeDataSourcePermissions",
    "quicksight:PassDataSource",
    "quicksight:UpdateDataSource",
    "quicksight:UpdateDataSourcePermissions",
    "quicksight:DeleteDataSource",
]
DATASET_ACTIONS = [
    "quicksight:DescribeDataSet",
    "quicksight:DescribeDataSetPermissions",
    "quicksight:PassDataSet",
    "quicksight:DescribeIngestion",
    "quicksight:ListIngestions",
    "quicksight:CreateIngestion",
    "quicksight:CancelIngestion",
    "quicksight:UpdateDataSet",
    "quicksight:UpdateDataSetPermissions",
    "quicksight:DeleteDataSet",
]
ANALYSIS_ACTIONS = [
    "quicksight:DescribeAnalysis",
    "quicksight:DescribeAnalysisPermissions",
    "quicksight:QueryAnalysis",
    "quicksight:UpdateAnalysis",
    "quicksight:UpdateAnalysisPermissions",
    "quicksight:RestoreAnalysis",
    "quicksight:DeleteAnalysis",
]
DASHBOARD_ACTIONS = [
    "quicksight:DescribeDashboard",
    "quicksight:DescribeDashboardPermissions",
    "quicksight:ListDashboardVersions",
    "quicksight:QueryDashboard",
    "quicksight:UpdateDashboard",
    "quicksight:UpdateDashboardPermissions",
    "quicksight:UpdateDashboardPublishedVersion",
    "quicksight:DeleteDashboard",
]


def definition(dataset_arns: dict[str, str]) -> dict[str, Any]:
    """The analysis/dashboard definition with each dataset identifier bound to its ARN."""
    body: dict[str, Any] = json.loads(DEFINITION.read_text(encoding="utf-8"))
    for declaration in body["DataSetIdentifierDeclarations"]:
        identifier = declaration["Identifier"]
        if identifier not in dataset_arns:
            raise ValueError(f"{DEFINITION}: dataset identifier {identifier!r} is not defined")
        declaration["DataSetArn"] = dataset_arns[identifier]
    return body


def input_columns(columns: list[glue.Column]) -> list[quicksight.CfnDataSet.InputColumnProperty]:
    """The compacted table's columns as QuickSight reads them (arrays left out)."""
    found = []
    for column in columns:
        kind = COLUMN_TYPES.get(column.type.input_string)
        if kind is not None:
            found.append(
                quicksight.CfnDataSet.InputColumnProperty(
                    name=column.name, type=kind[0], sub_type=kind[1]
                )
            )
    return found


def _permissions(principal: str, actions: list[str]) -> list[dict[str, Any]]:
    return [{"principal": principal, "actions": actions}]


class QuickSight(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        principal_arn: str,
        analytics: Analytics,
        bucket: s3.IBucket,
        results_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        prefix = stack.stack_name.lower()
        account = stack.account

        self.role = iam.Role(
            self,
            "AthenaRole",
            description="QuickSight's Athena data source: query the compacted readings",
            assumed_by=iam.ServicePrincipal(
                "quicksight.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": account}},
            ),
        )
        workgroup_arn = stack.format_arn(
            service="athena", resource="workgroup", resource_name=analytics.workgroup_name
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "athena:GetWorkGroup",
                    "athena:StartQueryExecution",
                    "athena:StopQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:GetQueryResultsStream",
                ],
                resources=[workgroup_arn],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=GLUE_READ_ACTIONS,
                resources=[
                    stack.format_arn(service="glue", resource="catalog"),
                    stack.format_arn(
                        service="glue", resource="database", resource_name=analytics.database_name
                    ),
                    stack.format_arn(
                        service="glue",
                        resource="table",
                        resource_name=f"{analytics.database_name}/{analytics.compacted_table_name}",
                    ),
                ],
            )
        )
        bucket.grant_read(self.role, f"{COMPACTED_PREFIX}*")
        results_bucket.grant_read_write(self.role, f"{RESULTS_PREFIX}*")
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetBucketLocation"],
                resources=[bucket.bucket_arn, results_bucket.bucket_arn],
            )
        )

        self.data_source = quicksight.CfnDataSource(
            self,
            "DataSource",
            aws_account_id=account,
            data_source_id=f"{prefix}-athena",
            name="Sensor pipeline (Athena)",
            type="ATHENA",
            data_source_parameters=quicksight.CfnDataSource.DataSourceParametersProperty(
                athena_parameters=quicksight.CfnDataSource.AthenaParametersProperty(
                    work_group=analytics.workgroup_name, role_arn=self.role.role_arn
                )
            ),
            ssl_properties=quicksight.CfnDataSource.SslPropertiesProperty(disable_ssl=False),
            permissions=_permissions(principal_arn, DATA_SOURCE_ACTIONS),
        )
        self.data_source.node.add_dependency(self.role)

        self.dataset = quicksight.CfnDataSet(
            self,
            "DataSet",
            aws_account_id=account,
            data_set_id=f"{prefix}-readings",
            name="Sensor readings",
            import_mode="SPICE",
            physical_table_map={
                PHYSICAL_TABLE: quicksight.CfnDataSet.PhysicalTableProperty(
                    relational_table=quicksight.CfnDataSet.RelationalTableProperty(
                        data_source_arn=self.data_source.attr_arn,
                        catalog="AwsDataCatalog",
                        schema=analytics.database_name,
                        name=analytics.compacted_table_name,
                        input_columns=input_columns(COMPACTED_COLUMNS),
                    )
                )
            },
            data_set_refresh_properties=quicksight.CfnDataSet.DataSetRefreshPropertiesProperty(
                refresh_configuration=quicksight.CfnDataSet.RefreshConfigurationProperty(
                    incremental_refresh=quicksight.CfnDataSet.IncrementalRefreshProperty(
                        lookback_window=quicksight.CfnDataSet.LookbackWindowProperty(
                            column_name="arrival_ts", size=LOOKBACK_DAYS, size_unit="DAY"
                        )
                    )
                )
            ),
            permissions=_permissions(principal_arn, DATASET_ACTIONS),
        )

        self.hourly_refresh = self._refresh(
            "HourlyRefresh",
            "hourly-incremental",
            "INCREMENTAL_REFRESH",
            quicksight.CfnRefreshSchedule.ScheduleFrequencyProperty(
                interval="HOURLY", time_zone="UTC"
            ),
        )
        self.weekly_refresh = self._refresh(
            "WeeklyRefresh",
            "weekly-full",
            "FULL_REFRESH",
            quicksight.CfnRefreshSchedule.ScheduleFrequencyProperty(
                interval="WEEKLY",
                refresh_on_day=quicksight.CfnRefreshSchedule.RefreshOnDayProperty(
                    day_of_week="SUNDAY"
                ),
                time_of_the_day="03:30",
                time_zone="UTC",
            ),
        )

        body = definition({DATASET_IDENTIFIER: self.dataset.attr_arn})
        self.analysis = quicksight.CfnAnalysis(
            self,
            "Analysis",
            aws_account_id=account,
            analysis_id=f"{prefix}-readings",
            name="Sensor readings",
            permissions=_permissions(principal_arn, ANALYSIS_ACTIONS),
        )
        self.analysis.add_property_override("Definition", body)
        self.dashboard = quicksight.CfnDashboard(
            self,
            "Dashboard",
            aws_account_id=account,
            dashboard_id=f"{prefix}-readings",
            name="Sensor readings",
            permissions=_permissions(principal_arn, DASHBOARD_ACTIONS),
            dashboard_publish_options=quicksight.CfnDashboard.DashboardPublishOptionsProperty(
                ad_hoc_filtering_option=quicksight.CfnDashboard.AdHocFilteringOptionProperty(
                    availability_status="ENABLED"
                ),
                export_to_csv_option=quicksight.CfnDashboard.ExportToCSVOptionProperty(
                    availability_status="ENABLED"
                ),
                sheet_controls_option=quicksight.CfnDashboard.SheetControlsOptionProperty(
                    visibility_state="EXPANDED"
                ),
            ),
        )
        self.dashboard.add_property_override("Definition", body)

        acknowledge_wildcards(
            self.role,
            "QuickSight reads only the compacted/ objects of the data bucket and reads and writes "
            "only the workgroup's athena/ results prefix (<bucket>/<prefix>*); the S3 read and "
            "write action groups of grant_read/grant_read_write are object-level actions.",
            reviewed=[
                "Action::s3:Abort*",
                "Action::s3:DeleteObject*",
                "Action::s3:GetBucket*",
                "Action::s3:GetObject*",
                "Action::s3:List*",
                "Resource::<StorageData6BB23F4E.Arn>/compacted/*",
                "Resource::<StorageQueryResults8DE7DCEE.Arn>/athena/*",
            ],
        )

    def _refresh(
        self,
        construct_id: str,
        schedule_id: str,
        refresh_type: str,
        frequency: quicksight.CfnRefreshSchedule.ScheduleFrequencyProperty,
    ) -> quicksight.CfnRefreshSchedule:
        schedule = quicksight.CfnRefreshSchedule(
            self,
            construct_id,
            aws_account_id=Stack.of(self).account,
            data_set_id=self.dataset.data_set_id,  # type: ignore[arg-type]
            schedule=quicksight.CfnRefreshSchedule.RefreshScheduleMapProperty(
                schedule_id=schedule_id,
                refresh_type=refresh_type,
                schedule_frequency=frequency,
            ),
        )
        schedule.node.add_dependency(self.dataset)
        return schedule
