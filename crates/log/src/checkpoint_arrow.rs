//! Builds the checkpoint's `add` column straight from typed `Add`s (the hot
//! path: one row per live file), avoiding a JSON round trip of every file's
//! statistics. Other rows go through JSON (see `checkpoint_write`).

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Int32Builder, Int64Builder, MapBuilder, MapFieldNames, StringBuilder,
};
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray, new_null_array};
use arrow_schema::{DataType, Field, Fields, SchemaRef};

use crate::actions::Add;
use crate::checkpoint_error::CheckpointEncodeError;
use crate::deletion_vector::StorageType;

/// A `map<string, string>` field as checkpoints write it.
pub(crate) fn string_map(name: &str, nullable: bool) -> Field {
    let entries = Field::new(
        "key_value",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ])),
        false,
    );
    Field::new(name, DataType::Map(Arc::new(entries), false), nullable)
}

/// The `deletionVector` struct field as checkpoints write it.
pub(crate) fn deletion_vector() -> Field {
    Field::new(
        "deletionVector",
        DataType::Struct(Fields::from(vec![
            Field::new("storageType", DataType::Utf8, false),
            Field::new("pathOrInlineDv", DataType::Utf8, false),
            Field::new("offset", DataType::Int32, true),
            Field::new("sizeInBytes", DataType::Int32, false),
            Field::new("cardinality", DataType::Int64, false),
        ])),
        true,
    )
}

/// The type of a checkpoint's `add` column as silt writes it.
pub(crate) fn add_type() -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("path", DataType::Utf8, false),
        string_map("partitionValues", false),
        Field::new("size", DataType::Int64, false),
        Field::new("modificationTime", DataType::Int64, false),
        Field::new("dataChange", DataType::Boolean, false),
        Field::new("stats", DataType::Utf8, true),
        string_map("tags", true),
        deletion_vector(),
        Field::new("baseRowId", DataType::Int64, true),
        Field::new("defaultRowCommitVersion", DataType::Int64, true),
        Field::new("clusteringProvider", DataType::Utf8, true),
    ]))
}

/// `adds` as an `add` column of [`add_type`], each field as it is.
pub(crate) fn add_array(adds: &[&Add]) -> Result<ArrayRef, CheckpointEncodeError> {
    add_column(adds, &add_type(), false)
}

fn map_builder() -> MapBuilder<StringBuilder, StringBuilder> {
    MapBuilder::new(
        Some(MapFieldNames {
            entry: "key_value".into(),
            key: "key".into(),
            value: "value".into(),
        }),
        StringBuilder::new(),
        StringBuilder::new(),
    )
}

fn struct_fields<'a>(
    column: &str,
    dt: &'a DataType,
) -> Result<&'a arrow_schema::Fields, CheckpointEncodeError> {
    match dt {
        DataType::Struct(f) => Ok(f),
        other => Err(CheckpointEncodeError::TypeMismatch {
            column: column.to_string(),
            built: "a struct".to_string(),
            expected: other.to_string(),
        }),
    }
}

/// The `add` column for `adds`, typed as `add_type` (the checkpoint schema's).
/// With `for_checkpoint`, `dataChange` is written false (a checkpoint holds
/// state, not changes); otherwise each add's own.
fn add_column(
    adds: &[&Add],
    add_type: &DataType,
    for_checkpoint: bool,
) -> Result<ArrayRef, CheckpointEncodeError> {
    let fields = struct_fields("add", add_type)?;
    let mut path = StringBuilder::new();
    let mut pv = map_builder();
    let mut size = Int64Builder::new();
    let mut mtime = Int64Builder::new();
    let mut data_change = BooleanBuilder::new();
    let mut stats = StringBuilder::new();
    let mut tags = map_builder();
    let mut dv_type = StringBuilder::new();
    let mut dv_path = StringBuilder::new();
    let mut dv_offset = Int32Builder::new();
    let mut dv_size = Int32Builder::new();
    let mut dv_card = Int64Builder::new();
    let mut dv_valid = Vec::with_capacity(adds.len());
    let mut base_row_id = Int64Builder::new();
    let mut row_commit = Int64Builder::new();
    let mut clustering = StringBuilder::new();
    for a in adds {
        path.append_value(a.path.as_str());
        for (k, v) in &a.partition_values {
            pv.keys().append_value(k);
            pv.values().append_option(v.as_deref());
        }
        pv.append(true)?;
        size.append_value(a.size);
        mtime.append_value(a.modification_time);
        // Checkpoint rows describe state, not changes.
        data_change.append_value(!for_checkpoint && a.data_change);
        stats.append_option(a.stats.as_deref());
        match &a.tags {
            Some(t) => {
                for (k, v) in t {
                    tags.keys().append_value(k);
                    tags.values().append_option(v.as_deref());
                }
                tags.append(true)?;
            }
            None => tags.append(false)?,
        }
        match &a.deletion_vector {
            Some(dv) => {
                dv_type.append_value(match dv.storage_type {
                    StorageType::UuidRelative => "u",
                    StorageType::Inline => "i",
                    StorageType::AbsolutePath => "p",
                });
                dv_path.append_value(&dv.path_or_inline_dv);
                dv_offset.append_option(dv.offset);
                dv_size.append_value(dv.size_in_bytes);
                dv_card.append_value(dv.cardinality);
                dv_valid.push(true);
            }
            None => {
                // Masked by the struct's null: any value will do.
                dv_type.append_value("");
                dv_path.append_value("");
                dv_offset.append_null();
                dv_size.append_value(0);
                dv_card.append_value(0);
                dv_valid.push(false);
            }
        }
        base_row_id.append_option(a.base_row_id);
        row_commit.append_option(a.default_row_commit_version);
        clustering.append_option(a.clustering_provider.as_deref());
    }
    let field_type = |name: &str| -> Result<DataType, CheckpointEncodeError> {
        fields
            .iter()
            .find(|f| f.name() == name)
            .map(|f| f.data_type().clone())
            .ok_or_else(|| CheckpointEncodeError::MissingColumn {
                column: format!("add.{name}"),
            })
    };
    let dv = StructArray::try_new(
        struct_fields("add.deletionVector", &field_type("deletionVector")?)?.clone(),
        vec![
            Arc::new(dv_type.finish()) as ArrayRef,
            Arc::new(dv_path.finish()),
            Arc::new(dv_offset.finish()),
            Arc::new(dv_size.finish()),
            Arc::new(dv_card.finish()),
        ],
        Some(dv_valid.into()),
    )?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(path.finish()),
        Arc::new(pv.finish()),
        Arc::new(size.finish()),
        Arc::new(mtime.finish()),
        Arc::new(data_change.finish()),
        Arc::new(stats.finish()),
        Arc::new(tags.finish()),
        Arc::new(dv),
        Arc::new(base_row_id.finish()),
        Arc::new(row_commit.finish()),
        Arc::new(clustering.finish()),
    ];
    // The builders' map types must match the schema's exactly.
    let columns = columns
        .into_iter()
        .zip(fields.iter())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c)
            } else {
                Err(CheckpointEncodeError::TypeMismatch {
                    column: format!("add.{}", f.name()),
                    built: c.data_type().to_string(),
                    expected: f.data_type().to_string(),
                })
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(StructArray::try_new(
        fields.clone(),
        columns,
        None,
    )?))
}

/// Record batches holding one `add` row per file (other columns null).
pub(crate) fn add_batches(
    schema: &SchemaRef,
    adds: &[&Add],
) -> Result<Vec<RecordBatch>, CheckpointEncodeError> {
    let add_index = schema
        .fields()
        .iter()
        .position(|f| f.name() == "add")
        .ok_or_else(|| CheckpointEncodeError::MissingColumn {
            column: "add".to_string(),
        })?;
    let add_type = schema.field(add_index).data_type().clone();
    let mut out = Vec::new();
    for chunk in adds.chunks(65_536) {
        let add = add_column(chunk, &add_type, true)?;
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if i == add_index {
                    add.clone()
                } else {
                    new_null_array(f.data_type(), chunk.len())
                }
            })
            .collect();
        out.push(RecordBatch::try_new(schema.clone(), columns)?);
    }
    Ok(out)
}
