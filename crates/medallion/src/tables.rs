//! The Delta tables a pipeline writes: opening them (a table not created
//! yet is `None`), creating one for a flow's first output with the
//! `domainMetadata` feature the progress needs, and truncating one for a
//! full refresh.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use silt_log::actions::DomainMetadata;
use silt_log::{CommitOutcome, CommitStamp, LogError, LogStore, Operation, Snapshot, StructType};
use silt_parquet::{WriteMode, WriteOptions};
use silt_store::TableBuilder;

use crate::definition::Dataset;
use crate::error::{PipelineError, PipelineResult};

/// The store of the table at `uri`.
pub fn store_for(
    uri: &str,
    options: &HashMap<String, String>,
) -> PipelineResult<Arc<dyn LogStore>> {
    Ok(TableBuilder::new(uri)
        .with_storage_options(options.clone())
        .build_store()?)
}

/// The table at `uri`, or `None` when there is none yet.
pub async fn load(
    uri: &str,
    options: &HashMap<String, String>,
) -> PipelineResult<Option<Snapshot>> {
    let store = store_for(uri, options)?;
    match Snapshot::builder(store).load().await {
        Ok(s) => Ok(Some(s)),
        Err(LogError::TableNotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The table at `uri`, created with `schema` (every column nullable) and
/// the dataset's partitioning and properties when it does not exist.
pub async fn ensure(
    uri: &str,
    options: &HashMap<String, String>,
    schema: &Schema,
    dataset: Option<&Dataset>,
) -> PipelineResult<Snapshot> {
    if let Some(s) = load(uri, options).await? {
        return Ok(s);
    }
    let store = store_for(uri, options)?;
    let nullable = Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    );
    let structure = StructType::try_from_arrow(&nullable).map_err(|e| PipelineError::Analysis {
        at: dataset.map(|d| d.at.clone()).unwrap_or_default(),
        message: format!("{uri}: {e}"),
    })?;
    let mut properties: HashMap<String, String> = dataset
        .map(|d| d.properties.clone().into_iter().collect())
        .unwrap_or_default();
    properties.insert("delta.feature.domainMetadata".into(), "supported".into());
    if let Some(d) = dataset
        && let Some(c) = &d.comment
    {
        properties.insert("comment".into(), c.clone());
    }
    let partition_by = dataset
        .map(|d| d.partitioned_by.clone())
        .unwrap_or_default();
    let protocol = silt_log::create::protocol_for(&properties, &[], &structure);
    let name = dataset.map(|d| d.name.name.clone());
    let metadata = silt_log::create::new_metadata(
        structure,
        partition_by,
        properties,
        name,
        &silt_log::SystemEnvironment,
    )
    .map_err(|message| PipelineError::Analysis {
        at: dataset.map(|d| d.at.clone()).unwrap_or_default(),
        message: format!("{uri}: {message}"),
    })?;
    let outcome = silt_log::Transaction::create_table(store.clone(), protocol, metadata)
        .commit()
        .await;
    match outcome {
        Ok(_) => {}
        // Another process created it first: use theirs.
        Err(e) if load(uri, options).await?.is_none() => return Err(e.into()),
        Err(_) => {}
    }
    load(uri, options).await?.ok_or_else(|| {
        PipelineError::Log(LogError::TableNotFound {
            table: uri.to_string(),
            reason: "created, but not found when loaded again".into(),
        })
    })
}

/// Removes every row of `snapshot`'s table and the given domains, in one
/// commit (a full refresh of a streaming table).
pub async fn truncate(snapshot: &Snapshot, domains: Vec<String>) -> PipelineResult<()> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut txn = snapshot
        .transaction(Operation::truncate().with_parameter("reason", "pipeline full refresh"))
        .read_whole_table()
        .remove_files(snapshot.files().iter().map(|a| a.to_remove(now)));
    for d in domains {
        if snapshot.domains().contains_key(&d) {
            txn = txn.set_domain_metadata(DomainMetadata {
                domain: d,
                configuration: String::new(),
                removed: true,
            });
        }
    }
    let outcome = txn.commit().await?;
    if let silt_log::CommitOutcome::Conflict(conflict) = outcome {
        return Err(PipelineError::Log(LogError::Conflict {
            table: snapshot.location().to_string(),
            conflict,
        }));
    }
    Ok(())
}

/// How a flow's rows reach its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitMode {
    /// Added to the table's rows.
    Append,
    /// Added, computed from the table's current rows (the keys it lacks):
    /// the commit records that read, so a concurrent change conflicts.
    AppendAfterReading,
    /// Replacing the table's rows (a materialized view).
    Overwrite,
}

/// Writes `batches` to `snapshot`'s table as `mode` says, in one commit
/// carrying `stamp` (the flow's `txn` and progress); with no rows to
/// append, the stamp alone.
pub async fn commit_rows(
    snapshot: Snapshot,
    flow: &str,
    batches: Vec<RecordBatch>,
    stamp: CommitStamp,
    mode: CommitMode,
) -> PipelineResult<CommitOutcome> {
    let overwrite = mode == CommitMode::Overwrite;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    if rows == 0 && !overwrite {
        // Progress alone (every record dropped, or only a skipped commit).
        let outcome = snapshot
            .transaction(Operation::streaming_update().with_parameter("flow", flow))
            .stamped(&stamp)
            .commit()
            .await?;
        return Ok(outcome);
    }
    let options = WriteOptions {
        app_transaction: stamp.app_transaction,
        domains: stamp.domains,
        merge_schema: !overwrite,
        read_whole_table: mode == CommitMode::AppendAfterReading,
        mode: if overwrite {
            WriteMode::Overwrite
        } else {
            WriteMode::Append
        },
        ..WriteOptions::default()
    };
    let written =
        silt_parquet::write_batches(snapshot.store().clone(), Some(snapshot), batches, options)
            .await?;
    Ok(written.outcome)
}
