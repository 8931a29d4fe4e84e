//! Commands that change tables (the inspection commands only render).

use crate::error::CliError;

use std::collections::HashMap;
use std::sync::Arc;

use silt_log::create::{new_metadata, protocol_for};
use silt_log::{LogStore, StructType, Transaction};

/// Reads `--schema`: inline JSON, or a file (`@path` or a path that exists).
fn read_schema(arg: &str) -> Result<StructType, CliError> {
    let text = if let Some(path) = arg.strip_prefix('@') {
        std::fs::read_to_string(path)
            .map_err(|e| CliError::from(format!("cannot read schema file {path}: {e}")))?
    } else if !arg.trim_start().starts_with('{') && std::path::Path::new(arg).exists() {
        std::fs::read_to_string(arg)
            .map_err(|e| CliError::from(format!("cannot read schema file {arg}: {e}")))?
    } else {
        arg.to_string()
    };
    StructType::from_json(&text).map_err(|e| CliError::from(format!("invalid --schema: {e}")))
}

/// `silt create`: commits version 0.
pub async fn create(
    store: Arc<dyn LogStore>,
    schema: &str,
    partition_by: Vec<String>,
    properties: HashMap<String, String>,
    name: Option<String>,
) -> Result<u64, CliError> {
    let schema = read_schema(schema)?;
    let protocol = protocol_for(&properties, &[], &schema);
    let metadata = new_metadata(
        schema,
        partition_by,
        properties,
        name,
        &silt_log::SystemEnvironment,
    )
    .map_err(CliError::from)?;
    let outcome = Transaction::create_table(store, protocol, metadata)
        .commit()
        .await
        .map_err(CliError::from)?;
    Ok(crate::output::committed(outcome, "table creation")?.version)
}
