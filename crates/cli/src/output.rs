//! Rendering snapshots, files and history for people (text) and programs
//! (JSON with the key names of Delta's `DESCRIBE DETAIL`).

use crate::error::CliError;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::{Value, json};
use silt_log::{CommitRecord, Snapshot};

/// Parses `--timestamp`: RFC 3339, `YYYY-MM-DD HH:MM:SS[.f]` (UTC),
/// `YYYY-MM-DD` (UTC midnight) or epoch milliseconds.
pub fn parse_timestamp(s: &str) -> Result<i64, CliError> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(dt.timestamp_millis());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(dt.and_utc().timestamp_millis());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(dt) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(dt.and_utc().timestamp_millis());
    }
    Err(format!(
        "cannot read timestamp {s:?}: use RFC 3339, YYYY-MM-DD[ HH:MM:SS] or epoch milliseconds"
    )
    .into())
}

fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Prints `text` (a closed pipe, `silt files t | head`, ends the program
/// quietly: see `out!`).
fn print(text: &str) -> Result<(), CliError> {
    out!("{text}");
    Ok(())
}

fn describe_json(s: &Snapshot) -> Value {
    let p = s.protocol();
    let m = s.metadata();
    let schema: Value = serde_json::from_str(m.schema_string()).unwrap_or(Value::Null);
    json!({
        "location": s.location(),
        "version": s.version(),
        "timestamp": s.timestamp_ms(),
        "numFiles": s.files().len(),
        "sizeInBytes": s.size_in_bytes(),
        "numRecords": s.num_records(),
        "partitionColumns": m.partition_columns,
        "properties": m.configuration,
        "protocol": {
            "minReaderVersion": p.min_reader_version,
            "minWriterVersion": p.min_writer_version,
            "readerFeatures": p.reader_features,
            "writerFeatures": p.writer_features,
        },
        "metadata": {
            "id": m.id,
            "name": m.name,
            "description": m.description,
            "schema": schema,
            "createdTime": m.created_time,
        },
        "lastCheckpoint": s.checkpoint_version(),
        // A `.crc` that disagrees with replay (the log wins); null when none.
        "checksumDiscrepancy": s.checksum_discrepancy().map(|d| json!({
            "file": d.file,
            "message": d.message,
        })),
    })
}

/// `silt describe`.
pub fn describe(s: &Snapshot, as_json: bool) -> Result<(), CliError> {
    if as_json {
        return print(&format!("{}\n", describe_json(s)));
    }
    let p = s.protocol();
    let m = s.metadata();
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<18} {v}\n"));
    line("location", s.location().to_string());
    line(
        "version",
        format!("{} ({})", s.version(), iso(s.timestamp_ms())),
    );
    line(
        "protocol",
        format!(
            "reader {} / writer {}",
            p.min_reader_version, p.min_writer_version
        ),
    );
    let features = |f: Vec<silt_log::TableFeature>| {
        if f.is_empty() {
            "-".to_string()
        } else {
            f.iter()
                .map(|x| x.name().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    line("reader features", features(p.effective_reader_features()));
    line("writer features", features(p.effective_writer_features()));
    line("id", m.id.clone());
    if let Some(n) = &m.name {
        line("name", n.clone());
    }
    if let Some(d) = &m.description {
        line("description", d.clone());
    }
    if let Some(t) = m.created_time {
        line("created", iso(t));
    }
    if let Some(d) = s.checksum_discrepancy() {
        line(
            "checksum",
            format!("disagrees with the log, which is used: {d}"),
        );
    }
    line(
        "partitioned by",
        if m.partition_columns.is_empty() {
            "-".into()
        } else {
            m.partition_columns.join(", ")
        },
    );
    line("files", s.files().len().to_string());
    line("size", format!("{} bytes", s.size_in_bytes()));
    line(
        "records",
        s.num_records()
            .map_or("unknown (files without statistics)".into(), |n| {
                n.to_string()
            }),
    );
    line(
        "last checkpoint",
        s.checkpoint_version().map_or("-".into(), |v| v.to_string()),
    );
    out.push_str("schema\n");
    // The column rules in force, shown as DDL would declare them.
    let rules = silt_log::column_rules::column_rules(s.protocol(), m.schema()).unwrap_or_default();
    for f in &m.schema().fields {
        let rule = rules.iter().find(|r| r.name == f.name).map(|r| {
            use silt_log::column_rules::ColumnRule;
            match &r.rule {
                ColumnRule::Identity(i) => format!(
                    " GENERATED {} AS IDENTITY (START WITH {} INCREMENT BY {}{})",
                    if i.allow_explicit_insert {
                        "BY DEFAULT"
                    } else {
                        "ALWAYS"
                    },
                    i.start,
                    i.step,
                    i.high_water_mark
                        .map_or(String::new(), |h| format!("; high-water mark {h}"))
                ),
                ColumnRule::Generated(sql) => format!(" GENERATED ALWAYS AS ({sql})"),
                ColumnRule::Default(sql) => format!(" DEFAULT {sql}"),
            }
        });
        out.push_str(&format!(
            "  {:<24} {}{}{}\n",
            f.name,
            f.data_type.simple_name(),
            if f.nullable { "" } else { " NOT NULL" },
            rule.unwrap_or_default()
        ));
    }
    if !m.configuration.is_empty() {
        out.push_str("properties\n");
        let mut props: Vec<_> = m.configuration.iter().collect();
        props.sort();
        for (k, v) in props {
            out.push_str(&format!("  {k} = {v}\n"));
        }
    }
    print(&out)
}

/// `silt files`.
pub fn files(s: &Snapshot, as_json: bool) -> Result<(), CliError> {
    let mut out = String::new();
    let mut sorted: Vec<silt_log::Add> = s.files().to_vec();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    for f in sorted {
        let records = f
            .parsed_stats()
            .ok()
            .flatten()
            .and_then(|st| st.num_records);
        let dv = f.deletion_vector.as_ref().map(|d| d.cardinality);
        if as_json {
            let v = json!({
                "path": f.path.as_str(),
                "partitionValues": f.partition_values,
                "size": f.size,
                "modificationTime": f.modification_time,
                "numRecords": records,
                "deletedRows": dv,
            });
            out.push_str(&format!("{v}\n"));
        } else {
            let mut parts: Vec<_> = f
                .partition_values
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("NULL")))
                .collect();
            parts.sort();
            out.push_str(&format!(
                "{}\t{} bytes\t{} records{}{}\n",
                f.path,
                f.size,
                records.map_or("?".into(), |n| n.to_string()),
                dv.map_or(String::new(), |d| format!("\t{d} deleted")),
                if parts.is_empty() {
                    String::new()
                } else {
                    format!("\t{}", parts.join(","))
                }
            ));
        }
    }
    print(&out)
}

/// `silt history`.
pub fn history(records: &[CommitRecord], as_json: bool) -> Result<(), CliError> {
    let mut out = String::new();
    for r in records {
        let info = r.commit_info.as_ref();
        let operation = info.and_then(|c| c.operation.clone());
        let params = info
            .and_then(|c| c.operation_parameters.clone())
            .map(Value::Object);
        if as_json {
            let v = json!({
                "version": r.version,
                "timestamp": r.timestamp_ms,
                "operation": operation,
                "operationParameters": params,
                "engineInfo": info.and_then(|c| c.engine_info.clone()),
            });
            out.push_str(&format!("{v}\n"));
        } else {
            out.push_str(&format!(
                "{:>6}  {}  {:<16} {}\n",
                r.version,
                iso(r.timestamp_ms),
                operation.as_deref().unwrap_or("-"),
                params.map_or(String::new(), |p| p.to_string())
            ));
        }
    }
    print(&out)
}

/// `silt create`.
pub fn created(table: &str, version: u64, as_json: bool) -> Result<(), CliError> {
    if as_json {
        print(&format!(
            "{}\n",
            json!({"table": table, "version": version})
        ))
    } else {
        print(&format!("created {table} at version {version}\n"))
    }
}

/// `silt checkpoint`.
pub fn checkpoint(
    w: &silt_log::checkpoint_write::CheckpointWritten,
    as_json: bool,
) -> Result<(), CliError> {
    if as_json {
        return print(&format!(
            "{}\n",
            json!({"version": w.version, "files": w.files, "numActions": w.num_actions, "numAddFiles": w.num_add_files})
        ));
    }
    let mut out = format!(
        "checkpoint of version {}: {} actions ({} files)\n",
        w.version, w.num_actions, w.num_add_files
    );
    for f in &w.files {
        out.push_str(&format!("  {f}\n"));
    }
    print(&out)
}

/// `silt cleanup-log`.
pub fn cleanup(r: &silt_log::cleanup::CleanupReport, as_json: bool) -> Result<(), CliError> {
    if as_json {
        return print(&format!(
            "{}\n",
            json!({"dryRun": r.dry_run, "files": r.files, "earliestVersion": r.earliest_version})
        ));
    }
    let verb = if r.dry_run { "would remove" } else { "removed" };
    let mut out = format!(
        "{verb} {} log files; earliest reconstructable version: {}\n",
        r.files.len(),
        r.earliest_version
            .map_or("unchanged".into(), |v| v.to_string())
    );
    for f in &r.files {
        out.push_str(&format!("  {f}\n"));
    }
    print(&out)
}

/// The commit `what` made, or an error naming what happened instead. A
/// failed post-commit step (the periodic checkpoint) is told on stderr: the
/// commit stands, but later loads are slower until a checkpoint is written.
pub fn committed(
    outcome: silt_log::CommitOutcome,
    what: &str,
) -> Result<silt_log::Committed, CliError> {
    match outcome {
        silt_log::CommitOutcome::Committed(c) => {
            if let Some(e) = &c.post_commit_error {
                eprintln!("warning: {e}");
            }
            Ok(c)
        }
        other => Err(format!("{what} did not commit: {other:?}").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("1000").unwrap(), 1000);
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z").unwrap(), 1000);
        assert_eq!(parse_timestamp("1970-01-01 00:00:02").unwrap(), 2000);
        assert_eq!(parse_timestamp("1970-01-02").unwrap(), 86_400_000);
        assert!(parse_timestamp("yesterday").is_err());
    }
}
