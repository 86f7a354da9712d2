"""Asset checks on each load: the rejected-row ratio, the table's columns against the YAML, and the counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from elt_dagster.engine.config import LoadedConfig
from elt_dagster.engine.types import TYPES

if TYPE_CHECKING:
    from elt_dagster.engine.run import RunReport


def _format_type(type_name: str) -> str:
    """A YAML column type as PostgreSQL's format_type() spells the column's type."""
    return TYPES[type_name].pg_format


def check_specs(table_key: AssetKey) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(
            "rejected_ratio", asset=table_key, description="Rejected rows / rows read stay under max_rejected_ratio."
        ),
        AssetCheckSpec(
            "columns_match_schema", asset=table_key, description="The table has every declared column, with its type."
        ),
        AssetCheckSpec(
            "counts_add_up",
            asset=table_key,
            description="Every row read was rejected, inserted, updated or a duplicate.",
        ),
    ]


_EVALUATED = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}


def standing_results(context: AssetExecutionContext, table_key: AssetKey) -> list[AssetCheckResult]:
    """A run that read nothing new: each check keeps the verdict of the last load (never turned green by a no-op)."""
    results = []
    for spec in check_specs(table_key):
        history = context.instance.event_log_storage.get_asset_check_execution_history(
            AssetCheckKey(table_key, spec.name), limit=1, status=_EVALUATED
        )
        event = history[0].event if history else None
        last = event.dagster_event.event_specific_data if event and event.dagster_event else None
        if not isinstance(last, AssetCheckEvaluation):
            results.append(
                AssetCheckResult(
                    asset_key=table_key, check_name=spec.name, passed=True, description="nothing loaded yet"
                )
            )
            continue
        results.append(
            AssetCheckResult(
                asset_key=table_key,
                check_name=spec.name,
                passed=last.passed,
                severity=last.severity,
                metadata={**last.metadata, "carried_over_from_run": history[0].run_id},
                description=f"nothing new was read: the last load's result stands ({last.description})",
            )
        )
    return results


def check_results(loaded: LoadedConfig, report: RunReport, table_key: AssetKey) -> list[AssetCheckResult]:
    return [_rejected_ratio(loaded, report, table_key), _columns(loaded, report, table_key), _counts(report, table_key)]


def _rejected_ratio(loaded: LoadedConfig, report: RunReport, table_key: AssetKey) -> AssetCheckResult:
    config = loaded.config.automation
    read = report.rows_read
    ratio = report.rejected / read if read else 0.0
    severity = AssetCheckSeverity.ERROR if config.rejected_ratio_severity == "error" else AssetCheckSeverity.WARN
    return AssetCheckResult(
        asset_key=table_key,
        check_name="rejected_ratio",
        passed=ratio <= config.max_rejected_ratio,
        severity=severity,
        metadata={
            "rejected": report.rejected,
            "rows_read": read,
            "ratio": round(ratio, 6),
            "max": config.max_rejected_ratio,
        },
        description=f"{report.rejected} of {read} rows rejected ({ratio:.2%}); allowed {config.max_rejected_ratio:.2%}",
    )


def _columns(loaded: LoadedConfig, report: RunReport, table_key: AssetKey) -> AssetCheckResult:
    declared = loaded.config.schema_.columns if loaded.config.schema_ else {}
    problems = []
    for name, type_name in declared.items():
        actual = report.table_schema.get(name)
        if actual is None:
            problems.append(f"{name}: missing")
        elif actual != _format_type(type_name):
            problems.append(f"{name}: {actual}, the YAML says {type_name}")
    return AssetCheckResult(
        asset_key=table_key,
        check_name="columns_match_schema",
        passed=not problems and bool(report.table_schema),
        metadata={
            "problems": problems or ["none"],
            "declared": len(declared),
            "table_columns": len(report.table_schema),
        },
        description="; ".join(problems) if problems else "every declared column is there, with its type",
    )


def _counts(report: RunReport, table_key: AssetKey) -> AssetCheckResult:
    accounted = (
        report.invalid + report.inserted + report.updated + report.duplicates + report.superseded + report.flagged
    )
    passed = accounted == report.rows_extracted and min(report.inserted, report.updated, report.duplicates) >= 0
    return AssetCheckResult(
        asset_key=table_key,
        check_name="counts_add_up",
        passed=passed,
        metadata={
            "rows_read": report.rows_extracted,
            "rejected": report.invalid,
            "inserted": report.inserted,
            "updated": report.updated,
            "duplicates": report.duplicates,
            "superseded": report.superseded,
            "deleting_rows": report.flagged,
        },
        description=f"{report.rows_extracted} read = {report.invalid} rejected + {report.inserted} inserted + "
        f"{report.updated} updated + {report.duplicates} duplicates + {report.superseded} superseded"
        + (f" + {report.flagged} deleting their key" if report.flagged else "")
        + ("" if passed else ": they do not add up"),
    )
