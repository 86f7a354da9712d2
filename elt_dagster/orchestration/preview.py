"""`<name>_preview`: the table's row count and first rows as an observation of the table asset, without loading."""

from dagster import AssetKey, AssetObservation, Failure, MetadataValue, OpExecutionContext, in_process_executor, job, op

from elt_dagster.engine.errors import PipelineError
from elt_dagster.engine.names import qualified_name
from elt_dagster.engine.redaction import mask_cells
from elt_dagster.engine.report import markdown_table

from .resources import POSTGRES_RESOURCE, PipelineConfigResource, PostgresResource

PREVIEW_ROWS = 10


def build_preview_job(name: str, config_key: str, table_key: AssetKey):
    """`<name>_preview`: the table's row count and first rows, as an observation of the table asset, without loading."""

    @op(name=f"{name}_preview_step", required_resource_keys={config_key, POSTGRES_RESOURCE})
    def preview_step(context: OpExecutionContext) -> None:
        from elt_dagster.engine.db import connect  # psycopg: imported by the step, not when definitions load
        from elt_dagster.engine.preview import preview_table

        pipeline: PipelineConfigResource = getattr(context.resources, config_key)
        postgres: PostgresResource = getattr(context.resources, POSTGRES_RESOURCE)
        try:
            current = pipeline.load()
            target = current.config.target
            with connect(postgres.url_for(target)) as conn:
                shown = preview_table(conn, target, PREVIEW_ROWS)
        except PipelineError as exc:
            raise Failure(description=str(exc)) from None
        if shown is None:
            context.log.warning(f"{qualified_name(target)} does not exist yet: run {name}_elt first")
            return
        context.log.info(f"{qualified_name(target)}: {shown.total} rows")
        context.log_event(
            AssetObservation(
                asset_key=table_key,
                metadata={
                    "dagster/row_count": shown.total,
                    "preview": MetadataValue.md(
                        markdown_table(shown.names, mask_cells(shown.rows, current.env_secrets))
                    ),
                },
            )
        )

    @job(
        name=f"{name}_preview",
        executor_def=in_process_executor,
        description=f"Row count and first rows of {name}'s table, without loading.",
    )
    def preview_job() -> None:
        preview_step()

    return preview_job
