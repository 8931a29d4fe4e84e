//! `dry-run`: every query planned by DataFusion against the schemas of its
//! inputs, in dependency order, without reading table data or writing
//! anything: unknown columns, type errors and bad expectations are found
//! with the file and position of the definition. Landing-file schemas come
//! from the flow's recorded progress, else from a sample of the files (as
//! Auto Loader infers them).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use silt_sql::SiltSession;
use silt_sql::datafusion::datasource::MemTable;

use crate::cdc::{END_AT, START_AT};
use crate::definition::{DatasetName, ScdType};
use crate::error::{PipelineError, PipelineResult, SourcePos};
use crate::pipeline::{FlowPlan, Pipeline};
use crate::progress::FlowProgress;
use crate::query::{InputSource, RewrittenQuery};
use crate::sources::files::{FileOptions, FilesProgress, read_files};
use crate::sources::listing::pending_files;
use crate::tables;

/// What a dry run found: each dataset's schema.
#[derive(Debug, Clone)]
pub struct DryRun {
    /// Output schema per dataset (views included), in dependency order.
    pub schemas: Vec<(DatasetName, SchemaRef)>,
}

fn at_query(q: &RewrittenQuery, message: String) -> PipelineError {
    PipelineError::Analysis {
        at: q.original.at.clone(),
        message,
    }
}

/// Plans every query of `p`.
pub async fn dry_run(p: &Pipeline) -> PipelineResult<DryRun> {
    let mut schemas: BTreeMap<DatasetName, SchemaRef> = BTreeMap::new();
    let mut order = Vec::new();
    for name in &p.order {
        let schema = if let Some(view) = p.views.get(name) {
            let s = plan_query(p, view, &schemas, None).await?;
            check_expectations(p, name, &s).await?;
            s
        } else {
            let mut out: Option<SchemaRef> = None;
            for flow in p.flows.iter().filter(|f| &f.target == name) {
                let target = tables::load(&p.dataset_uri(name), &p.storage_options).await?;
                let progress = FlowProgress::read(target.as_ref(), &p.name, &flow.name)
                    .map_err(|m| PipelineError::flow(&flow.name, m.0))?;
                let input = plan_query(p, flow.query(), &schemas, Some(&progress)).await?;
                let s = match &flow.plan {
                    FlowPlan::AutoCdc(cdc, _) => {
                        let find = |c: &str| {
                            input
                                .fields()
                                .iter()
                                .find(|f| f.name().eq_ignore_ascii_case(c))
                                .cloned()
                        };
                        let mut missing: Vec<&String> =
                            cdc.keys.iter().filter(|k| find(k).is_none()).collect();
                        if find(&cdc.sequence_by).is_none() {
                            missing.push(&cdc.sequence_by);
                        }
                        if !missing.is_empty() {
                            return Err(PipelineError::Analysis {
                                at: flow.at.clone(),
                                message: format!(
                                    "flow {}: {} not among the columns of {} ({})",
                                    flow.name,
                                    missing
                                        .iter()
                                        .map(|m| m.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", "),
                                    cdc.source,
                                    input
                                        .fields()
                                        .iter()
                                        .map(|f| f.name().as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            });
                        }
                        let mut stored = cdc
                            .columns
                            .select(input.fields().iter().map(|f| f.name().as_str()));
                        for c in cdc.keys.iter().chain(std::iter::once(&cdc.sequence_by)) {
                            if !stored.iter().any(|s| s.eq_ignore_ascii_case(c)) {
                                stored.push(c.clone());
                            }
                        }
                        let mut fields: Vec<Field> = input
                            .fields()
                            .iter()
                            .filter(|f| stored.iter().any(|s| s.eq_ignore_ascii_case(f.name())))
                            .map(|f| f.as_ref().clone())
                            .collect();
                        if cdc.scd == ScdType::Type2 {
                            let t = find(&cdc.sequence_by)
                                .map(|f| f.data_type().clone())
                                .unwrap_or(DataType::Null);
                            fields.push(Field::new(START_AT, t.clone(), true));
                            fields.push(Field::new(END_AT, t, true));
                        }
                        Arc::new(Schema::new(fields))
                    }
                    _ => input,
                };
                check_expectations(p, name, &s).await?;
                out = Some(match out {
                    None => s,
                    Some(prev) => merge(&prev, &s),
                });
            }
            out.unwrap_or_else(|| Arc::new(Schema::empty()))
        };
        schemas.insert(name.clone(), schema.clone());
        order.push((name.clone(), schema));
    }
    Ok(DryRun { schemas: order })
}

/// Columns of `a`, then those of `b` that `a` lacks (several flows into
/// one table).
fn merge(a: &SchemaRef, b: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = a.fields().iter().map(|f| f.as_ref().clone()).collect();
    for f in b.fields() {
        if a.field_with_name(f.name()).is_err() {
            fields.push(f.as_ref().clone());
        }
    }
    Arc::new(Schema::new(fields))
}

async fn check_expectations(
    p: &Pipeline,
    name: &DatasetName,
    schema: &SchemaRef,
) -> PipelineResult<()> {
    let Some(d) = p.datasets.get(name) else {
        return Ok(());
    };
    if d.expectations.is_empty() {
        return Ok(());
    }
    let session = SiltSession::new();
    let table =
        MemTable::try_new(schema.clone(), vec![vec![]]).map_err(silt_sql::SqlError::from)?;
    session
        .context()
        .register_table("__silt_rows", Arc::new(table))
        .map_err(silt_sql::SqlError::from)?;
    for e in &d.expectations {
        let sql = format!("SELECT CAST(({}) AS BOOLEAN) FROM __silt_rows", e.condition);
        if let Err(err) = session.context().sql(&sql).await {
            return Err(PipelineError::Analysis {
                at: e.at.clone(),
                message: format!("expectation {} of {name}: {err}", e.name),
            });
        }
    }
    Ok(())
}

/// The schema `query` produces, its inputs given by schema only.
async fn plan_query(
    p: &Pipeline,
    query: &RewrittenQuery,
    known: &BTreeMap<DatasetName, SchemaRef>,
    progress: Option<&FlowProgress>,
) -> PipelineResult<SchemaRef> {
    let session = SiltSession::with_storage_options(p.storage_options.clone());
    for input in &query.inputs {
        let schema: SchemaRef = match &input.source {
            InputSource::Dataset(d) => {
                let name = p.qualify(d);
                match known.get(&name) {
                    Some(s) => s.clone(),
                    None => {
                        return Err(at_query(
                            query,
                            format!("{name} has no schema yet (it is read before it is defined)"),
                        ));
                    }
                }
            }
            InputSource::Path(uri) => match tables::load(uri, &p.storage_options).await? {
                Some(s) => Arc::new(
                    s.metadata()
                        .schema()
                        .to_arrow()
                        .map_err(|e| at_query(query, format!("{uri}: {e}")))?,
                ),
                None => return Err(at_query(query, format!("no Delta table at {uri}"))),
            },
            InputSource::Files { path, options } => {
                let opts = FileOptions::parse(options).map_err(|m| at_query(query, m.0))?;
                let key = input.source.to_string();
                let recorded = progress.and_then(|pr| pr.files.get(&key)).cloned();
                file_schema(p, path, &opts, recorded, query.uses_metadata, query).await?
            }
        };
        let table = MemTable::try_new(schema, vec![vec![]]).map_err(silt_sql::SqlError::from)?;
        session
            .context()
            .register_table(input.placeholder.as_str(), Arc::new(table))
            .map_err(silt_sql::SqlError::from)?;
    }
    query.prepare(session.context()).await?;
    match session.context().sql(&query.sql).await {
        Ok(df) => Ok(Arc::new(df.schema().as_arrow().clone())),
        Err(e) => Err(at_query(query, e.to_string())),
    }
}

/// The row schema of a landing directory: recorded columns, else those of
/// a sample of up to 20 files.
async fn file_schema(
    p: &Pipeline,
    path: &str,
    opts: &FileOptions,
    recorded: Option<FilesProgress>,
    with_metadata: bool,
    query: &RewrittenQuery,
) -> PipelineResult<SchemaRef> {
    if let Some(r) = recorded
        && !r.columns.is_empty()
        && opts.format != crate::sources::files::FileFormat::Parquet
    {
        let cols: Vec<(String, DataType)> = r
            .columns
            .iter()
            .map(|c| (c.clone(), DataType::Utf8))
            .collect();
        return Ok(crate::sources::files::row_schema(&cols, with_metadata));
    }
    let store = tables::store_for(&p.source_uri(path), &p.storage_options)?;
    let mut sample = opts.clone();
    sample.max_files_per_trigger = 20;
    sample.min_file_age_ms = 0;
    let mut files = pending_files(store.as_ref(), &FilesProgress::default(), &sample, i64::MAX)
        .await
        .map_err(|e| at_query(query, format!("listing {path}: {e}")))?;
    files.truncate(sample.max_files_per_trigger);
    if files.is_empty() {
        return Err(at_query(
            query,
            format!(
                "no files under {path} yet: the schema of read_files is inferred from the files that landed"
            ),
        ));
    }
    let (rows, _) = read_files(
        store,
        &p.source_uri(path),
        files,
        &sample,
        &FilesProgress::default(),
        with_metadata,
        "dry-run",
    )
    .await?;
    Ok(rows.schema)
}

/// Where a definition is, for messages.
pub fn position(p: &Pipeline, name: &DatasetName) -> SourcePos {
    p.datasets
        .get(name)
        .map(|d| d.at.clone())
        .unwrap_or_default()
}
