//! Committing a table change ([`silt_log::alter`]): a new CHECK constraint
//! is first evaluated on every existing row (the commit then records the
//! whole table as read, so a concurrent write conflicts instead of slipping
//! a violating row in), then the protocol, metadata and domain metadata are
//! written in one transaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use silt_log::alter::{AlterTable, alter_table as plan_change};
use silt_log::{CommitOutcome, Snapshot};

use crate::column_values::{ExpressionEvaluator, RowRules};
use crate::error::{ParquetError, ParquetResult};
use crate::scan::Scan;

/// Applies `change` to the table at `snapshot` as one commit. `evaluator`
/// evaluates a new constraint silt's predicates cannot express.
pub async fn alter_table(
    snapshot: &Snapshot,
    change: &AlterTable,
    evaluator: Option<Arc<dyn ExpressionEvaluator>>,
) -> ParquetResult<CommitOutcome> {
    let table = snapshot.location().to_string();
    let invalid = |reason: String| ParquetError::InvalidData {
        table: table.clone(),
        reason,
    };
    let domains: BTreeMap<String, String> = snapshot
        .domains()
        .iter()
        .filter(|(_, d)| !d.removed)
        .map(|(k, d)| (k.clone(), d.configuration.clone()))
        .collect();
    let planned = plan_change(
        snapshot.protocol(),
        snapshot.metadata(),
        &domains,
        !snapshot.files().is_empty(),
        change,
        &silt_log::SystemEnvironment,
    )
    .map_err(|source| ParquetError::AlterRefused {
        table: table.clone(),
        source,
    })?;
    let mut txn = snapshot.transaction(planned.operation);
    if let Some((name, sql)) = &planned.validate {
        let schema = &snapshot.metadata().schema();
        let rules = RowRules::single_check(name, sql, schema, evaluator)
            .map_err(|e| invalid(e.to_string()))?;
        let mut rows = Scan::new(snapshot).stream()?;
        while let Some(batch) = rows.try_next().await? {
            rules.check(schema, batch.columns()).map_err(|e| {
                invalid(format!(
                    "existing rows violate the new constraint: {e}; the constraint was not added"
                ))
            })?;
        }
        txn = txn.read_whole_table();
    }
    if planned.backfill_row_ids {
        // Re-added files without row ids get fresh ones in this commit.
        let readds: Vec<_> = snapshot
            .files()
            .iter()
            .filter(|a| a.base_row_id.is_none())
            .map(|a| {
                let mut a = a.into_owned();
                a.data_change = false;
                a.base_row_id = None;
                a.default_row_commit_version = None;
                a
            })
            .collect();
        // Any file added concurrently would lack row ids: conflict with it.
        txn = txn.read_whole_table().add_files(readds);
    }
    if let Some(p) = planned.protocol {
        txn = txn.update_protocol(p);
    }
    txn = txn.update_metadata(planned.metadata);
    for d in planned.domains {
        txn = txn.set_domain_metadata(d);
    }
    Ok(txn.commit().await?)
}
