//! Writing Arrow batches as Delta data files and committing them: schema
//! enforcement (names, types, NOT NULL), Hive-style partition directories,
//! files rolled at a target size, statistics, column mapping (physical
//! names, field ids), encoding on every core, and one transaction per write
//! (append, overwrite, replaceWhere, or create-table-as-write). A failed
//! write leaves no visible change: files not committed are orphans for
//! vacuum.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray, UInt32Array};
use arrow_schema::{DataType as ArrowType, Field, Schema, SchemaRef, TimeUnit};
use chrono::DateTime;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use silt_log::actions::{Add, Remove};
use silt_log::column_rules::IDENTITY_SCHEMA_UPDATE_TAG;
use silt_log::create::{new_metadata, protocol_for};
use silt_log::expr::Expr;
use silt_log::path::FilePath;
use silt_log::schema::{COLUMN_MAPPING_ID_KEY, DataType, StructType};
use silt_log::{CommitOutcome, LogStore, Operation, Snapshot, Transaction};

use crate::arrow_values::{ArrowValueError, ColumnMappingMode, logical_arrow_type, physical_name};
use crate::column_values::{ExpressionEvaluator, RowRules};
use crate::encoder_queue::{EncoderInput, encoder_queue};
use crate::error::{ParquetError, ParquetResult};
use crate::file_sink::FileSink;
use crate::shared_file::{
    PartitionSlot, PartitionSlots, RowGroupBuilder, RowGroupFactory, SharedFile,
};
use crate::stats::StatsCollector;

/// How a write relates to the data already in the table.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteMode {
    /// Add rows.
    Append,
    /// Replace every row.
    Overwrite,
    /// Replace the rows matching a predicate on partition columns; every
    /// written row must match it.
    ReplaceWhere(Expr),
}

/// Data file compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataCompression {
    /// zstd (the default).
    Zstd,
    /// snappy.
    Snappy,
    /// none.
    Uncompressed,
}

/// Options of a write.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Append, overwrite or replaceWhere.
    pub mode: WriteMode,
    /// Partition columns when the write creates the table.
    pub partition_by: Vec<String>,
    /// Table properties when the write creates the table.
    pub properties: HashMap<String, String>,
    /// Roll to a new file past this many bytes.
    pub target_file_size: usize,
    /// Rows per Parquet row group (bounds writer memory).
    pub row_group_rows: usize,
    /// Bytes of unfinished row groups one encoder holds across the files it
    /// has open (one per partition). Past it the largest row group is
    /// written out early, so a write to many partitions stays within
    /// `threads` × this, not partitions × a row group.
    pub open_row_groups_bytes: usize,
    /// Compression.
    pub compression: DataCompression,
    /// Idempotent application transaction (app id, version).
    pub app_transaction: Option<(String, i64)>,
    /// Domain metadata the commit writes beside the data (the table needs
    /// the `domainMetadata` writer feature).
    pub domains: Vec<silt_log::actions::DomainMetadata>,
    /// Encoding threads (default: the number of cores).
    pub threads: usize,
    /// Directory below the table root for the files (`_change_data` for
    /// change-data files); empty for data files.
    pub directory: String,
    /// Add input columns the table does not have (as nullable columns), in
    /// the same transaction as the data.
    pub merge_schema: bool,
    /// Evaluates SQL: generation expressions, defaults, and constraints
    /// silt's predicates cannot express. Without one, tables using them
    /// refuse writes.
    pub evaluator: Option<Arc<dyn ExpressionEvaluator>>,
    /// Counts the rows handed to the encoders, for progress displays.
    pub progress: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// The rows were derived from the table's current rows (e.g. the keys
    /// it lacks): an append records a read of the whole table, so a
    /// concurrent change to it is a conflict, not a silent overlap.
    pub read_whole_table: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            mode: WriteMode::Append,
            partition_by: Vec::new(),
            properties: HashMap::new(),
            target_file_size: 128 << 20,
            row_group_rows: 1 << 20,
            open_row_groups_bytes: 128 << 20,
            compression: DataCompression::Zstd,
            app_transaction: None,
            domains: Vec::new(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            directory: String::new(),
            merge_schema: false,
            evaluator: None,
            progress: None,
            read_whole_table: false,
        }
    }
}

/// The outcome of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteResult {
    /// The commit outcome.
    pub outcome: CommitOutcome,
    /// Files written.
    pub files_added: usize,
    /// Files the write replaced.
    pub files_removed: usize,
    /// Rows written.
    pub rows: u64,
}

/// Characters Hive-style partition directories escape as `%XX`.
fn needs_escape(c: char) -> bool {
    (c as u32) < 0x20
        || c as u32 == 0x7F
        || matches!(
            c,
            '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '{' | '[' | ']' | '^'
        )
}

/// Escapes a partition value for a directory name.
pub fn escape_partition_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if needs_escape(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Percent-encodes a relative path for the log (`/` kept).
pub fn encode_log_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b'=') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Rows that do not fit the table they are written to, or a table layout
/// silt cannot write yet. The rows or the table definition are at fault,
/// so retrying cannot help.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteDataError {
    /// An input column the table does not have.
    #[error(
        "column {column:?} is not in the table schema (schema evolution is not enabled for this write)"
    )]
    UnknownColumn {
        /// The input column.
        column: String,
    },
    /// An input column of a type that does not convert to the table's.
    #[error("column {column:?} has type {found} but the table says {expected}")]
    ColumnType {
        /// The column.
        column: String,
        /// The input's Arrow type.
        found: String,
        /// The table's type.
        expected: String,
    },
    /// An input column whose values do not convert to the table's type.
    #[error("column {column:?}: {source}")]
    Conform {
        /// The column.
        column: String,
        /// Why.
        #[source]
        source: ArrowValueError,
    },
    /// A partition column the schema does not have.
    #[error("partition column {column:?} is not in the schema")]
    UnknownPartitionColumn {
        /// The partition column.
        column: String,
    },
    /// A partition column of a type silt cannot write as a partition value.
    #[error("partition columns of type {arrow_type} are not supported")]
    PartitionType {
        /// The Arrow type.
        arrow_type: String,
    },
    /// A date or timestamp partition value outside chrono's range.
    #[error("{type_name} out of range")]
    PartitionValueOutOfRange {
        /// `date` or `timestamp`.
        type_name: &'static str,
    },
    /// Structs inside arrays or maps of a column-mapped table.
    #[error("writing structs inside arrays or maps of a column-mapped table is not supported yet")]
    NestedStructUnderMapping,
    /// A table type with no Arrow form.
    #[error(transparent)]
    Schema(#[from] silt_log::schema::SchemaError),
    /// Arrow refused the rows (rebuilding structs, taking rows).
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// The Delta string form of a partition value (`None` for NULL).
fn partition_string(array: &dyn Array, row: usize) -> Result<Option<String>, WriteDataError> {
    if array.is_null(row) {
        return Ok(None);
    }
    Ok(Some(match array.data_type() {
        ArrowType::Utf8 => array.as_string::<i32>().value(row).to_string(),
        ArrowType::Int8 => array.as_primitive::<Int8Type>().value(row).to_string(),
        ArrowType::Int16 => array.as_primitive::<Int16Type>().value(row).to_string(),
        ArrowType::Int32 => array.as_primitive::<Int32Type>().value(row).to_string(),
        ArrowType::Int64 => array.as_primitive::<Int64Type>().value(row).to_string(),
        ArrowType::Float32 => array.as_primitive::<Float32Type>().value(row).to_string(),
        ArrowType::Float64 => array.as_primitive::<Float64Type>().value(row).to_string(),
        ArrowType::Boolean => array.as_boolean().value(row).to_string(),
        ArrowType::Date32 => {
            let d = array.as_primitive::<Date32Type>().value(row);
            chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
                .and_then(|e| e.checked_add_signed(chrono::Duration::days(d as i64)))
                .ok_or(WriteDataError::PartitionValueOutOfRange { type_name: "date" })?
                .format("%Y-%m-%d")
                .to_string()
        }
        ArrowType::Timestamp(TimeUnit::Microsecond, _) => {
            let v = array.as_primitive::<TimestampMicrosecondType>().value(row);
            DateTime::from_timestamp_micros(v)
                .ok_or(WriteDataError::PartitionValueOutOfRange {
                    type_name: "timestamp",
                })?
                .naive_utc()
                .format("%Y-%m-%d %H:%M:%S%.6f")
                .to_string()
        }
        ArrowType::Decimal128(_, s) => Decimal128Type::format_decimal(
            array.as_primitive::<Decimal128Type>().value(row),
            38,
            *s,
        ),
        other => {
            return Err(WriteDataError::PartitionType {
                arrow_type: other.to_string(),
            });
        }
    }))
}

/// Renames a column to its physical names (and field ids) for the file.
fn physical_field(
    f: &silt_log::schema::StructField,
    mode: ColumnMappingMode,
) -> Result<Field, WriteDataError> {
    let dt = physical_type(&f.data_type, mode)?;
    let mut field = Field::new(physical_name(f, mode), dt, f.nullable);
    if mode == ColumnMappingMode::Id
        && let Some(id) = f
            .metadata
            .get(COLUMN_MAPPING_ID_KEY)
            .and_then(|v| v.as_i64())
    {
        field = field.with_metadata(HashMap::from([(
            "PARQUET:field_id".to_string(),
            id.to_string(),
        )]));
    }
    Ok(field)
}

fn physical_type(ty: &DataType, mode: ColumnMappingMode) -> Result<ArrowType, WriteDataError> {
    fn has_struct(t: &DataType) -> bool {
        match t {
            DataType::Struct(_) => true,
            DataType::Array(a) => has_struct(&a.element_type),
            DataType::Map(m) => has_struct(&m.key_type) || has_struct(&m.value_type),
            _ => false,
        }
    }
    if mode != ColumnMappingMode::None
        && let DataType::Array(_) | DataType::Map(_) = ty
        && has_struct(ty)
    {
        return Err(WriteDataError::NestedStructUnderMapping);
    }
    match ty {
        DataType::Struct(s) if mode != ColumnMappingMode::None => Ok(ArrowType::Struct(
            s.fields
                .iter()
                .map(|f| physical_field(f, mode))
                .collect::<Result<Vec<_>, _>>()?
                .into(),
        )),
        other => Ok(logical_arrow_type(other)?),
    }
}

fn to_physical(
    array: &ArrayRef,
    ty: &DataType,
    target: &ArrowType,
) -> Result<ArrayRef, WriteDataError> {
    match (ty, target) {
        (DataType::Struct(s), ArrowType::Struct(fields)) if array.data_type() != target => {
            let st = array.as_struct();
            let children = s
                .fields
                .iter()
                .zip(fields.iter())
                .zip(st.columns())
                .map(|((f, pf), c)| to_physical(c, &f.data_type, pf.data_type()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Arc::new(StructArray::try_new(
                fields.clone(),
                children,
                st.nulls().cloned(),
            )?))
        }
        _ => Ok(array.clone()),
    }
}

/// Makes a batch fit the table: columns in table order with the table's
/// types, missing columns filled with nulls (NOT NULL is checked once the
/// row rules have filled what they supply); errors name the column. Also
/// says which columns the input had.
pub(crate) fn conform_input(
    batch: &RecordBatch,
    schema: &StructType,
) -> Result<(Vec<ArrayRef>, Vec<bool>), WriteDataError> {
    let input = batch.schema();
    for f in input.fields() {
        if !schema
            .fields
            .iter()
            .any(|t| t.name.eq_ignore_ascii_case(f.name()))
        {
            return Err(WriteDataError::UnknownColumn {
                column: f.name().clone(),
            });
        }
    }
    let present: Vec<bool> = schema
        .fields
        .iter()
        .map(|t| {
            input
                .fields()
                .iter()
                .any(|f| f.name().eq_ignore_ascii_case(&t.name))
        })
        .collect();
    let columns = schema
        .fields
        .iter()
        .map(|t| {
            let want = logical_arrow_type(&t.data_type)?;
            let Some(i) = input
                .fields()
                .iter()
                .position(|f| f.name().eq_ignore_ascii_case(&t.name))
            else {
                return Ok(arrow_array::new_null_array(&want, batch.num_rows()));
            };
            let col = batch.column(i);
            let col = if col.data_type() == &want {
                col.clone()
            } else if matches!(
                (col.data_type(), &want),
                (ArrowType::LargeUtf8 | ArrowType::Utf8View, ArrowType::Utf8)
                    | (
                        ArrowType::LargeBinary | ArrowType::BinaryView,
                        ArrowType::Binary
                    )
                    | (
                        ArrowType::Timestamp(_, Some(_)),
                        ArrowType::Timestamp(_, Some(_))
                    )
                    | (ArrowType::Timestamp(_, None), ArrowType::Timestamp(_, None))
                    | (
                        ArrowType::Int8 | ArrowType::Int16,
                        ArrowType::Int32 | ArrowType::Int64
                    )
                    | (ArrowType::Int32, ArrowType::Int64)
                    | (ArrowType::Float32, ArrowType::Float64)
                    | (ArrowType::Date64, ArrowType::Date32)
            ) {
                crate::arrow_values::conform(col, &t.data_type, ColumnMappingMode::None).map_err(
                    |source| WriteDataError::Conform {
                        column: t.name.clone(),
                        source,
                    },
                )?
            } else {
                return Err(WriteDataError::ColumnType {
                    column: t.name.clone(),
                    found: col.data_type().to_string(),
                    expected: t.data_type.simple_name(),
                });
            };
            Ok(col)
        })
        .collect::<Result<Vec<_>, WriteDataError>>()?;
    Ok((columns, present))
}

/// A data file sealed but not yet known durable.
struct SealedFile {
    sink: crate::file_sink::SealedSink,
    stats: StatsCollector,
    partition_values: HashMap<String, Option<String>>,
}

/// Files whose last writes and syncs are in flight at once at the end of a
/// write (each may hold up to a sink's first piece in memory).
const LANDING_AT_ONCE: usize = 8;

/// An idle partition's unfinished row group smaller than this stays in
/// memory until the encoder finishes: writing it out would buy little and
/// could leave a rarely written partition with many tiny row groups.
const IDLE_FLUSH_MIN_BYTES: usize = 4 << 20;

struct Job {
    key: Vec<Option<String>>,
    partition_values: HashMap<String, Option<String>>,
    dir: String,
    batch: RecordBatch,
}

struct Context {
    store: Arc<dyn LogStore>,
    table: String,
    file_schema: SchemaRef,
    /// Properties before the dictionary choice.
    props: WriterProperties,
    /// Row groups with `props`.
    default_row_groups: RowGroupFactory,
    /// Properties with dictionaries off for the columns the first large
    /// enough batch showed to be near-unique, and their row groups; every
    /// later row group and file uses them.
    chosen: std::sync::OnceLock<(WriterProperties, RowGroupFactory)>,
    /// Held while an encoder makes the dictionary choice.
    deciding: std::sync::Mutex<()>,
    /// Each partition's open file, which every encoder appends to.
    slots: PartitionSlots,
    /// Files opened (numbers the file names).
    files_opened: std::sync::atomic::AtomicUsize,
    target: usize,
    /// See [`WriteOptions::open_row_groups_bytes`].
    open_row_groups_bytes: usize,
    handle: tokio::runtime::Handle,
    directory: String,
    schema: StructType,
    partition_columns: Vec<String>,
    mode: ColumnMappingMode,
    replace: Option<Expr>,
    /// Defaults, identity and generated columns, NOT NULL, CHECK
    /// constraints and invariants.
    rules: Arc<RowRules>,
}

impl Context {
    /// The row groups of a partition whose next rows are `first`: made with
    /// the write's dictionary choice once made, made now if `first` can
    /// decide it, with the defaults otherwise (also while another encoder
    /// is deciding).
    fn row_groups(&self, first: &RecordBatch) -> Result<&RowGroupFactory, ParquetError> {
        if let Some((_, f)) = self.chosen.get() {
            return Ok(f);
        }
        // One encoder samples at a time. The others do not wait for its
        // choice (a core idle for the sampling, 27 ms of a 5M-row write)
        // but start their row group with the defaults: a near-unique
        // column then fills one dictionary page before that row group
        // falls back to plain values, a few milliseconds of work.
        let _deciding = match self.deciding.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Ok(&self.default_row_groups),
        };
        if let Some((_, f)) = self.chosen.get() {
            return Ok(f);
        }
        let Some(plain) = crate::dictionary_choice::plain_columns(
            first,
            self.props.max_row_group_row_count().unwrap_or(usize::MAX),
            self.props.dictionary_page_size_limit(),
        ) else {
            return Ok(&self.default_row_groups);
        };
        let props = plain
            .into_iter()
            .fold(self.props.clone().into_builder(), |b, column| {
                b.set_column_dictionary_enabled(
                    parquet::schema::types::ColumnPath::new(vec![column]),
                    false,
                )
            })
            .build();
        let factory = RowGroupFactory::new(self.file_schema.clone(), props.clone())
            .map_err(|e| self.write_err("", e.to_string()))?;
        Ok(&self.chosen.get_or_init(|| (props, factory)).1)
    }

    /// The properties of a new file.
    fn file_props(&self) -> WriterProperties {
        match self.chosen.get() {
            Some((p, _)) => p.clone(),
            None => self.props.clone(),
        }
    }

    /// Opens a new data file in `slot`'s partition directory.
    fn open(&self, slot: &PartitionSlot) -> Result<SharedFile, ParquetError> {
        let seq = 1 + self
            .files_opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ext = match self
            .props
            .compression(&parquet::schema::types::ColumnPath::new(vec![]))
        {
            Compression::ZSTD(_) => "zstd.",
            Compression::SNAPPY => "snappy.",
            _ => "",
        };
        let name = format!("part-{seq:05}-{}-c000.{ext}parquet", uuid::Uuid::new_v4());
        let key = [self.directory.as_str(), slot.dir.as_str(), name.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        let sink = FileSink::new(self.store.clone(), key, self.handle.clone());
        SharedFile::new(sink, self.file_schema.clone(), self.file_props())
            .map_err(|e| self.write_err(&slot.dir, e.to_string()))
    }

    /// Appends a finished row group to its partition's open file, and lands
    /// the files that are full: the open one when the row group would take
    /// it past the target size (the row group then starts the next file),
    /// and the one it goes into once that reaches the target.
    fn append(
        &self,
        slot: &PartitionSlot,
        row_group: RowGroupBuilder,
    ) -> Result<Vec<Add>, ParquetError> {
        let err = |e: parquet::errors::ParquetError| self.write_err(&slot.dir, e.to_string());
        let finished = row_group.finish().map_err(err)?;
        let (before, after) = {
            let mut file = slot.lock();
            // Files are opened for a row group, so an open file has rows.
            let before = file.take_if(|f| f.bytes_written() + finished.bytes() > self.target);
            let open = match file.as_mut() {
                Some(f) => f,
                None => file.insert(self.open(slot)?),
            };
            open.append(finished).map_err(err)?;
            (before, file.take_if(|f| f.bytes_written() >= self.target))
        };
        [before, after]
            .into_iter()
            .flatten()
            .map(|f| self.land(self.seal(slot, f)?))
            .collect()
    }

    /// Writes a file's footer and hands its last bytes to the I/O.
    fn seal(&self, slot: &PartitionSlot, file: SharedFile) -> Result<SealedFile, ParquetError> {
        let (sink, stats) = file
            .seal()
            .map_err(|e| self.write_err(&slot.dir, e.to_string()))?;
        Ok(SealedFile {
            sink,
            stats,
            partition_values: slot.partition_values.clone(),
        })
    }

    /// Seals the files still open once every encoder is done, landing each
    /// only once a few more are in flight, so their last writes and syncs
    /// overlap instead of running one after another.
    fn finish_open_files(&self) -> Result<Vec<Add>, ParquetError> {
        let mut adds = Vec::new();
        let mut landing = std::collections::VecDeque::new();
        for (slot, file) in self.slots.take_open() {
            landing.push_back(self.seal(&slot, file)?);
            if landing.len() > LANDING_AT_ONCE
                && let Some(oldest) = landing.pop_front()
            {
                adds.push(self.land(oldest)?);
            }
        }
        for f in landing {
            adds.push(self.land(f)?);
        }
        Ok(adds)
    }

    /// Waits until a sealed file is durable; its `add` action.
    fn land(&self, file: SealedFile) -> Result<Add, ParquetError> {
        let SealedFile {
            sink,
            stats,
            partition_values,
        } = file;
        let key = sink.key().to_string();
        let size = sink
            .wait()
            .map_err(|e| self.write_err(&key, e.to_string()))?;
        let size = i64::try_from(size).map_err(|e| self.write_err(&key, e.to_string()))?;
        let path = FilePath::parse(encode_log_path(&key))
            .map_err(|e| self.write_err(&key, e.to_string()))?;
        Ok(Add {
            path,
            partition_values,
            size,
            modification_time: chrono::Utc::now().timestamp_millis(),
            data_change: true,
            stats: Some(stats.to_json()),
            tags: None,
            deletion_vector: None,
            base_row_id: None,
            default_row_commit_version: None,
            clustering_provider: None,
        })
    }

    fn write_err(&self, file: &str, reason: String) -> ParquetError {
        ParquetError::Write {
            table: self.table.clone(),
            file: file.to_string(),
            reason,
        }
    }

    /// Conforms an input batch and splits it into per-partition jobs.
    fn prepare(&self, batch: RecordBatch) -> Result<Vec<Job>, ParquetError> {
        let invalid = |reason: String| ParquetError::InvalidData {
            table: self.table.clone(),
            reason,
        };
        let (mut columns, present) =
            conform_input(&batch, &self.schema).map_err(|e| invalid(e.to_string()))?;
        self.rules
            .apply(&self.schema, &mut columns, &present)
            .map_err(|e| invalid(e.to_string()))?;
        let n = batch.num_rows();
        let full = RecordBatch::try_new(
            Arc::new(Schema::new(
                self.schema
                    .fields
                    .iter()
                    .zip(&columns)
                    .map(|(f, c)| Field::new(&f.name, c.data_type().clone(), true))
                    .collect::<Vec<_>>(),
            )),
            columns,
        )
        .map_err(|e| invalid(e.to_string()))?;
        if let Some(pred) = &self.replace {
            let kept = crate::filter::filter_batch(pred, &self.schema, &full)
                .map_err(|e| invalid(e.to_string()))?;
            if kept.num_rows() != n {
                return Err(invalid(format!(
                    "{} rows do not match the replaceWhere predicate {pred}",
                    n - kept.num_rows()
                )));
            }
        }
        split(
            &full,
            &self.schema,
            &self.partition_columns,
            &self.file_schema,
            self.mode,
        )
        .map_err(|e| invalid(e.to_string()))
    }

    /// Keeps a worker's unfinished row groups within
    /// [`WriteOptions::open_row_groups_bytes`] by writing out the largest.
    fn bound_open_row_groups(
        &self,
        building: &mut Building,
        adds: &mut Vec<Add>,
    ) -> Result<(), ParquetError> {
        let total: usize = building.values().map(|(_, rg)| rg.memory_size()).sum();
        if total < self.open_row_groups_bytes {
            return Ok(());
        }
        let largest = building
            .iter()
            .max_by_key(|(_, (_, rg))| rg.memory_size())
            .map(|(key, _)| key.clone());
        if let Some((slot, rg)) = largest.and_then(|key| building.remove(&key)) {
            adds.extend(self.append(&slot, rg)?);
        }
        Ok(())
    }

    /// Writes out the unfinished row group of each partition that has gone
    /// quiet: no rows for as many rows of input as the row group holds
    /// (time-ordered input moving on from a day, say). Its bytes then reach
    /// the store while later partitions are encoded, instead of all at the
    /// end of the write, and its pages are freed.
    fn flush_idle(
        &self,
        building: &mut Building,
        rows: u64,
        adds: &mut Vec<Add>,
    ) -> Result<(), ParquetError> {
        let idle: Vec<_> = building
            .iter()
            .filter(|(_, (_, rg))| {
                rows - rg.last_rows >= rg.rows() as u64 && rg.memory_size() >= IDLE_FLUSH_MIN_BYTES
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in idle {
            if let Some((slot, rg)) = building.remove(&key) {
                adds.extend(self.append(&slot, rg)?);
            }
        }
        Ok(())
    }

    /// A worker (number `encoder`): conforms and splits the batches it is
    /// given, builds a row group per partition and appends each finished
    /// one to the partition's shared file. The `add`s of the files it
    /// filled.
    fn run(&self, encoder: usize, batches: EncoderInput) -> Result<Vec<Add>, ParquetError> {
        let mut building = Building::new();
        let mut adds = Vec::new();
        let names: Vec<String> = self
            .file_schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let row_group_rows = self.props.max_row_group_row_count().unwrap_or(usize::MAX);
        let mut rows = 0u64;
        for batch in batches {
            rows += batch.num_rows() as u64;
            for job in self.prepare(batch)? {
                let mut rest = job.batch;
                while rest.num_rows() > 0 {
                    let (slot, rg) = match building.entry(job.key.clone()) {
                        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::hash_map::Entry::Vacant(v) => {
                            // Without partitions each encoder keeps files
                            // of its own: they roll at the target size
                            // anyway, and their bytes then go out through
                            // separate streams instead of one.
                            let lane = if self.partition_columns.is_empty() {
                                vec![Some(encoder.to_string())]
                            } else {
                                job.key.clone()
                            };
                            let slot = self.slots.get(&lane, &job.dir, &job.partition_values);
                            let rg = self
                                .row_groups(&rest)?
                                .row_group()
                                .map_err(|e| self.write_err(&job.dir, e.to_string()))?;
                            v.insert((slot, rg))
                        }
                    };
                    let take = rest.num_rows().min(row_group_rows - rg.rows());
                    let part = rest.slice(0, take);
                    rest = rest.slice(take, rest.num_rows() - take);
                    rg.stats.add(&names, part.columns());
                    rg.last_rows = rows;
                    rg.write(&part)
                        .map_err(|e| self.write_err(&slot.dir, e.to_string()))?;
                    if rg.rows() >= row_group_rows || rg.estimated_bytes() >= self.target {
                        if let Some((slot, rg)) = building.remove(&job.key) {
                            adds.extend(self.append(&slot, rg)?);
                        }
                    }
                }
                self.bound_open_row_groups(&mut building, &mut adds)?;
            }
            self.flush_idle(&mut building, rows, &mut adds)?;
        }
        for (_, (slot, rg)) in building.drain() {
            adds.extend(self.append(&slot, rg)?);
        }
        Ok(adds)
    }
}

/// A worker's unfinished row groups, by partition key.
type Building = HashMap<Vec<Option<String>>, (Arc<PartitionSlot>, RowGroupBuilder)>;

/// Writes `batches` to the table at `store` (created when `snapshot` is
/// `None`), committing one transaction.
pub async fn write_batches<I>(
    store: Arc<dyn LogStore>,
    snapshot: Option<Snapshot>,
    batches: I,
    options: WriteOptions,
) -> ParquetResult<WriteResult>
where
    I: IntoIterator<Item = RecordBatch> + Send + 'static,
    I::IntoIter: Send,
{
    let table = store.location().to_string();
    let invalid = |reason: String| ParquetError::InvalidData {
        table: table.clone(),
        reason,
    };
    if let Some(s) = &snapshot {
        // An application transaction already committed: nothing to encode.
        if let Some((app, version)) = &options.app_transaction
            && let Some(done) = s.txn_version(app)
            && done >= *version
        {
            return Ok(WriteResult {
                outcome: CommitOutcome::AlreadyApplied {
                    app_id: app.clone(),
                    app_version: *version,
                    table_version: s.version(),
                },
                files_added: 0,
                files_removed: 0,
                rows: 0,
            });
        }
        // Partitioning asked of an existing table must be the table's.
        let existing = &s.metadata().partition_columns;
        if !options.partition_by.is_empty()
            && !options
                .partition_by
                .iter()
                .map(|c| c.to_lowercase())
                .eq(existing.iter().map(|c| c.to_lowercase()))
        {
            return Err(invalid(format!(
                "the write asks for partitioning by {:?}, but the table is partitioned by {:?}",
                options.partition_by, existing
            )));
        }
    }
    let mut input = batches.into_iter().peekable();
    // The table's schema and partitioning: from the snapshot, or from the
    // data when this write creates the table.
    let mut evolved: Option<silt_log::Metadata> = None;
    let mut evolved_protocol: Option<silt_log::Protocol> = None;
    let (schema, partition_columns, mode, create) = match &snapshot {
        Some(s) => {
            let m = s.metadata();
            let mode = ColumnMappingMode::from_property(
                m.property(silt_log::properties::COLUMN_MAPPING_MODE),
            );
            let mut schema = m.schema().clone();
            if options.merge_schema
                && let Some(first) = input.peek()
            {
                let incoming = StructType::try_from_arrow(&first.schema())
                    .map_err(|e| invalid(e.to_string()))?;
                // The same planning as ALTER TABLE: new columns (with
                // column-mapping ids on mapped tables) and, where the table
                // allows type widening, wider types.
                let mut protocol = s.protocol().clone();
                let mut meta = m.clone();
                let mut changes = Vec::new();
                let mut new = Vec::new();
                for mut f in incoming.fields {
                    match meta
                        .schema()
                        .fields
                        .iter()
                        .find(|t| t.name.eq_ignore_ascii_case(&f.name))
                    {
                        None => {
                            f.nullable = true;
                            new.push(f);
                        }
                        Some(t)
                            if m.flag(silt_log::properties::ENABLE_TYPE_WIDENING)
                                && silt_log::alter::is_widening(&t.data_type, &f.data_type) =>
                        {
                            changes.push(silt_log::alter::AlterTable::ChangeColumnType {
                                path: vec![t.name.clone()],
                                to: f.data_type,
                            });
                        }
                        Some(_) => {}
                    }
                }
                if !new.is_empty() {
                    changes.push(silt_log::alter::AlterTable::AddColumns {
                        parent: Vec::new(),
                        fields: new,
                    });
                }
                for change in &changes {
                    let planned = silt_log::alter::alter_table(
                        &protocol,
                        &meta,
                        &Default::default(),
                        !s.files().is_empty(),
                        change,
                        &silt_log::SystemEnvironment,
                    )
                    .map_err(|e| invalid(format!("merge_schema: {e}")))?;
                    meta = planned.metadata;
                    if let Some(p) = planned.protocol {
                        protocol = p;
                    }
                }
                if !changes.is_empty() {
                    schema = meta.schema().clone();
                    evolved = Some(meta);
                    if protocol != *s.protocol() {
                        evolved_protocol = Some(protocol);
                    }
                }
            }
            (schema, m.partition_columns.clone(), mode, None)
        }
        None => {
            let first = input.peek().ok_or_else(|| {
                invalid("creating a table needs at least one batch to take the schema from".into())
            })?;
            let schema =
                StructType::try_from_arrow(&first.schema()).map_err(|e| invalid(e.to_string()))?;
            let protocol = protocol_for(&options.properties, &[], &schema);
            let metadata = new_metadata(
                schema.clone(),
                options.partition_by.clone(),
                options.properties.clone(),
                None,
                &silt_log::SystemEnvironment,
            )
            .map_err(|e| invalid(e.to_string()))?;
            // Column mapping, when asked for, was set up by new_metadata:
            // files use its physical names.
            let mode = ColumnMappingMode::from_property(
                metadata.property(silt_log::properties::COLUMN_MAPPING_MODE),
            );
            (
                metadata.schema().clone(),
                options.partition_by.clone(),
                mode,
                Some((protocol, metadata)),
            )
        }
    };
    if let WriteMode::ReplaceWhere(e) = &options.mode {
        e.validate(&schema).map_err(|e| invalid(e.to_string()))?;
        if let Some(c) = e
            .columns()
            .into_iter()
            .find(|c| !partition_columns.iter().any(|p| p == c))
        {
            return Err(invalid(format!(
                "replaceWhere on the data column {c:?} is not supported yet; use partition columns"
            )));
        }
    }

    // Data rules (constraints, invariants, identity, generated and default
    // columns): a rule silt cannot apply refuses the write here.
    let rules = match (&snapshot, &create) {
        (Some(s), _) => RowRules::for_table(
            s.protocol(),
            evolved.as_ref().unwrap_or(s.metadata()),
            &schema,
            options.evaluator.clone(),
            true,
        ),
        (None, Some((p, m))) => RowRules::for_table(p, m, &schema, options.evaluator.clone(), true),
        (None, None) => unreachable!("a missing snapshot means the table is created"),
    }
    .map_err(|e| invalid(e.to_string()))?;
    let (adds, rows) = write_data_files(
        store.clone(),
        &schema,
        &partition_columns,
        mode,
        input,
        &options,
        rules.clone(),
    )
    .await?;
    // Identity values handed out move the high-water marks in this commit.
    let marks = rules.high_water_marks();
    if !marks.is_empty()
        && let Some(s) = &snapshot
    {
        let mut meta = evolved.take().unwrap_or_else(|| s.metadata().clone());
        let schema = silt_log::column_rules::with_high_water_marks(meta.schema(), &marks);
        meta.set_schema(schema);
        evolved = Some(meta);
    }

    // Removals for overwrite modes.
    let now = chrono::Utc::now().timestamp_millis();
    let removes: Vec<Remove> = match (&options.mode, &snapshot) {
        (WriteMode::Append, _) | (_, None) => Vec::new(),
        (WriteMode::Overwrite, Some(s)) => s.files().iter().map(|a| a.to_remove(now)).collect(),
        (WriteMode::ReplaceWhere(e), Some(s)) => s
            .files()
            .iter()
            .filter(|a| {
                let pv = crate::arrow_values::logical_partition_values(
                    &a.partition_values,
                    &schema,
                    &partition_columns,
                    mode,
                );
                e.eval_partition(&schema, &pv) == Some(true)
            })
            .map(|a| a.to_remove(now))
            .collect(),
    };
    let files_added = adds.len();
    let files_removed = removes.len();
    let (mode_name, predicate) = match &options.mode {
        WriteMode::Append => ("Append", None),
        WriteMode::Overwrite => ("Overwrite", None),
        WriteMode::ReplaceWhere(e) => ("Overwrite", Some(e.to_string())),
    };
    let mut op = if create.is_some() {
        Operation::create_table_as_select()
    } else {
        Operation::write()
    }
    .with_parameter("mode", mode_name)
    .with_parameter(
        "partitionBy",
        serde_json::to_string(&partition_columns).unwrap_or_default(),
    );
    if let Some(p) = predicate {
        op = op.with_parameter("predicate", p);
    }
    if !marks.is_empty() {
        op = op.with_tag(IDENTITY_SCHEMA_UPDATE_TAG, "true");
    }
    let txn = match (create, &snapshot) {
        (Some((protocol, mut metadata)), _) => {
            // A new table's first identity values move its marks too.
            if !marks.is_empty() {
                let schema =
                    silt_log::column_rules::with_high_water_marks(metadata.schema(), &marks);
                metadata.set_schema(schema);
            }
            Transaction::create_table(store.clone(), protocol, metadata)
        }
        (None, Some(s)) => {
            let t = s.transaction(op.clone());
            match &options.mode {
                WriteMode::Append if !options.read_whole_table => t,
                _ => t.read_whole_table(),
            }
        }
        (None, None) => unreachable!("a missing snapshot means the table is created"),
    };
    // Every added row was checked against the constraints above.
    let mut txn = txn
        .add_files(adds)
        .remove_files(removes)
        .with_checks_enforced();
    if let Some(meta) = evolved {
        txn = txn.update_metadata(meta);
    }
    if let Some(p) = evolved_protocol {
        txn = txn.update_protocol(p);
    }
    if let Some((app, v)) = &options.app_transaction {
        txn = txn.set_app_transaction(app.clone(), *v);
    }
    for d in &options.domains {
        txn = txn.set_domain_metadata(d.clone());
    }
    let outcome = txn.commit().await?;
    Ok(WriteResult {
        outcome,
        files_added,
        files_removed,
        rows,
    })
}

/// Like [`write_batches`] for input held in memory: when the commit loses
/// to a concurrent writer that also handed out identity values (both move
/// the high-water marks, so they conflict), the write is redone against the
/// new version with fresh values, up to `attempts` times. The lost
/// attempt's files are orphans for VACUUM.
pub async fn write_batches_retrying(
    store: Arc<dyn LogStore>,
    mut snapshot: Option<Snapshot>,
    batches: Vec<RecordBatch>,
    options: WriteOptions,
    attempts: usize,
) -> ParquetResult<WriteResult> {
    let mut left = attempts.max(1);
    loop {
        let r = write_batches(
            store.clone(),
            snapshot.clone(),
            batches.clone(),
            options.clone(),
        )
        .await?;
        left -= 1;
        let identity = snapshot.as_ref().is_some_and(|s| {
            silt_log::column_rules::column_rules(s.protocol(), s.metadata().schema()).is_ok_and(
                |rules| {
                    rules
                        .iter()
                        .any(|r| matches!(r.rule, silt_log::column_rules::ColumnRule::Identity(_)))
                },
            )
        });
        match (&r.outcome, snapshot.take()) {
            (CommitOutcome::Conflict(c), Some(s))
                if identity
                    && left > 0
                    && c.rule == silt_log::conflict::ConflictRule::MetadataChanged =>
            {
                snapshot = Some(s.refresh().await?);
            }
            _ => return Ok(r),
        }
    }
}

/// Encodes batches into data files under the table (nothing committed):
/// the `add` actions and the number of rows. Used by writes, deletes that
/// rewrite files, and optimize.
pub(crate) async fn write_data_files<I>(
    store: Arc<dyn LogStore>,
    schema: &StructType,
    partition_columns: &[String],
    mode: ColumnMappingMode,
    input: I,
    options: &WriteOptions,
    rules: Arc<RowRules>,
) -> ParquetResult<(Vec<Add>, u64)>
where
    I: Iterator<Item = RecordBatch> + Send + 'static,
{
    let table = store.location().to_string();
    let invalid = |reason: String| ParquetError::InvalidData {
        table: table.clone(),
        reason,
    };
    let schema = schema.clone();
    let partition_columns = partition_columns.to_vec();
    // File schema: data columns (partition columns live in directories),
    // with physical names under column mapping.
    let data_fields: Vec<&silt_log::schema::StructField> = schema
        .fields
        .iter()
        .filter(|f| !partition_columns.contains(&f.name))
        .collect();
    let file_schema = Arc::new(Schema::new(
        data_fields
            .iter()
            .map(|f| physical_field(f, mode))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(e.to_string()))?,
    ));
    let compression = match options.compression {
        // Level 1, as Arrow's own writers default to: most of the ratio of
        // higher levels at a fraction of the CPU.
        DataCompression::Zstd => Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()),
        DataCompression::Snappy => Compression::SNAPPY,
        DataCompression::Uncompressed => Compression::UNCOMPRESSED,
    };
    let props = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(options.row_group_rows.max(1)))
        // Whole Delta string bounds, which are read from these.
        .set_statistics_truncate_length(Some(crate::stats::FOOTER_STRING_BOUND_BYTES))
        .build();
    let ctx = Arc::new(Context {
        store,
        table: table.clone(),
        file_schema: file_schema.clone(),
        default_row_groups: RowGroupFactory::new(file_schema.clone(), props.clone()).map_err(
            |e| ParquetError::Write {
                table: table.clone(),
                file: String::new(),
                reason: e.to_string(),
            },
        )?,
        props,
        chosen: std::sync::OnceLock::new(),
        deciding: std::sync::Mutex::new(()),
        slots: PartitionSlots::default(),
        files_opened: std::sync::atomic::AtomicUsize::new(0),
        target: options.target_file_size.max(1),
        open_row_groups_bytes: options.open_row_groups_bytes.max(1),
        handle: tokio::runtime::Handle::current(),
        directory: options.directory.clone(),
        schema: schema.clone(),
        partition_columns: partition_columns.clone(),
        mode,
        replace: match &options.mode {
            WriteMode::ReplaceWhere(e) => Some(e.clone()),
            _ => None,
        },
        rules,
    });
    let threads = options.threads.max(1);
    let progress = options.progress.clone();
    // CPU work (conforming, splitting, encoding) runs on plain threads,
    // each taking the next input batch when it is free.
    let (adds, rows) = tokio::task::spawn_blocking(move || -> ParquetResult<(Vec<Add>, u64)> {
        std::thread::scope(|scope| {
            let (mut dealer, inputs) = encoder_queue(threads, 2 * threads);
            let handles: Vec<_> = inputs
                .into_iter()
                .enumerate()
                .map(|(encoder, input)| {
                    let ctx = ctx.clone();
                    scope.spawn(move || ctx.run(encoder, input))
                })
                .collect();
            let mut rows = 0u64;
            for batch in input {
                if batch.num_rows() == 0 {
                    continue;
                }
                rows += batch.num_rows() as u64;
                if let Some(p) = &progress {
                    p.fetch_add(
                        batch.num_rows() as u64,
                        std::sync::atomic::Ordering::Relaxed,
                    );
                }
                if dealer.send(batch).is_err() {
                    break; // a worker failed; its error is reported below
                }
            }
            drop(dealer);
            let mut adds = Vec::new();
            let mut first_err = None;
            for h in handles {
                match h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)) {
                    Ok(a) => adds.extend(a),
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            match first_err {
                Some(e) => Err(e),
                None => {
                    adds.extend(ctx.finish_open_files()?);
                    Ok((adds, rows))
                }
            }
        })
    })
    .await
    .map_err(|e| ParquetError::Write {
        table: table.clone(),
        file: String::new(),
        reason: format!("write task failed: {e}"),
    })??;

    Ok((adds, rows))
}

/// Splits a conformed batch by partition values into file-ready jobs.
fn split(
    batch: &RecordBatch,
    schema: &StructType,
    partition_columns: &[String],
    file_schema: &SchemaRef,
    mode: ColumnMappingMode,
) -> Result<Vec<Job>, WriteDataError> {
    let part_idx: Vec<usize> = partition_columns
        .iter()
        .map(|p| {
            schema
                .fields
                .iter()
                .position(|f| &f.name == p)
                .ok_or_else(|| WriteDataError::UnknownPartitionColumn { column: p.clone() })
        })
        .collect::<Result<_, _>>()?;
    let data_idx: Vec<usize> = (0..schema.fields.len())
        .filter(|i| !part_idx.contains(i))
        .collect();
    let to_file = |b: &RecordBatch| -> Result<RecordBatch, WriteDataError> {
        let cols = data_idx
            .iter()
            .zip(file_schema.fields())
            .map(|(i, pf)| to_physical(b.column(*i), &schema.fields[*i].data_type, pf.data_type()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new(file_schema.clone(), cols)?)
    };
    if part_idx.is_empty() {
        return Ok(vec![Job {
            key: Vec::new(),
            partition_values: HashMap::new(),
            dir: String::new(),
            batch: to_file(batch)?,
        }]);
    }
    // Group rows by their partition values a run of equal rows at a time:
    // rows of one partition usually come together (input sorted or
    // clustered by the partition column), so a batch is a few runs, each
    // looked up once by the binary row form of its first row, and a group
    // of one run is a zero-copy slice. Groups keep the order they first
    // appear in.
    let part_cols: Vec<ArrayRef> = part_idx.iter().map(|i| batch.column(*i).clone()).collect();
    let run_ranges = arrow_ord::partition::partition(&part_cols)?.ranges();
    let starts: UInt32Array = run_ranges.iter().map(|r| r.start as u32).collect();
    let run_keys: Vec<ArrayRef> = part_cols
        .iter()
        .map(|c| arrow_select::take::take(c, &starts, None))
        .collect::<Result<_, _>>()?;
    let converter = arrow_row::RowConverter::new(
        run_keys
            .iter()
            .map(|c| arrow_row::SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let encoded = converter.convert_columns(&run_keys)?;
    let mut group_of: HashMap<arrow_row::Row<'_>, usize> = HashMap::new();
    let mut runs: Vec<Vec<std::ops::Range<usize>>> = Vec::new();
    for (k, range) in run_ranges.into_iter().enumerate() {
        let g = *group_of.entry(encoded.row(k)).or_insert_with(|| {
            runs.push(Vec::new());
            runs.len() - 1
        });
        runs[g].push(range);
    }
    let mut jobs = Vec::with_capacity(runs.len());
    for group in runs {
        let first = group[0].start;
        let key = part_idx
            .iter()
            .map(|i| partition_string(batch.column(*i).as_ref(), first))
            .collect::<Result<Vec<_>, _>>()?;
        let taken = match group.as_slice() {
            [only] => batch.slice(only.start, only.len()),
            _ => {
                let rows: UInt32Array = group
                    .iter()
                    .flat_map(|r| r.clone())
                    .map(|i| i as u32)
                    .collect();
                arrow_select::take::take_record_batch(batch, &rows)?
            }
        };
        let mut dir = Vec::new();
        let mut values = HashMap::new();
        for (p, v) in partition_columns.iter().zip(&key) {
            // `part_idx` found every partition column in the schema above.
            let field = schema
                .field(p)
                .ok_or_else(|| WriteDataError::UnknownPartitionColumn { column: p.clone() })?;
            let name = physical_name(field, mode).to_string();
            dir.push(format!(
                "{}={}",
                escape_partition_value(&name),
                v.as_deref().map_or(
                    "__HIVE_DEFAULT_PARTITION__".to_string(),
                    escape_partition_value
                )
            ));
            values.insert(name, v.clone());
        }
        jobs.push(Job {
            key,
            partition_values: values,
            dir: dir.join("/"),
            batch: to_file(&taken)?,
        });
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_directories_escape_like_hive() {
        assert_eq!(escape_partition_value("a/b:c d"), "a%2Fb%3Ac d");
        assert_eq!(escape_partition_value("50%"), "50%25");
        assert_eq!(
            encode_log_path("p=a%2Fb c/x.parquet"),
            "p=a%252Fb%20c/x.parquet"
        );
        let round = FilePath::parse(encode_log_path("p=a%2Fb c/x.parquet")).unwrap();
        assert_eq!(round.relative_decoded().unwrap(), "p=a%2Fb c/x.parquet");
    }

    #[test]
    fn split_groups_runs_by_partition_in_first_seen_order() {
        use silt_log::schema::{DataType as D, PrimitiveType as P, StructField};
        let schema = StructType::new(vec![
            StructField::new("id", D::Primitive(P::Long), true),
            StructField::new("p", D::Primitive(P::String), true),
        ]);
        let parts = [
            Some("b"),
            Some("b"),
            Some("a"),
            Some("b"),
            None,
            Some("a"),
            Some("a"),
            Some("c"),
        ];
        let batch = RecordBatch::try_from_iter(vec![
            (
                "id",
                Arc::new(arrow_array::Int64Array::from_iter_values(0..8)) as ArrayRef,
            ),
            (
                "p",
                Arc::new(arrow_array::StringArray::from(parts.to_vec())),
            ),
        ])
        .unwrap();
        let file_schema = Arc::new(Schema::new(vec![Field::new("id", ArrowType::Int64, true)]));
        let jobs = split(
            &batch,
            &schema,
            &["p".to_string()],
            &file_schema,
            ColumnMappingMode::None,
        )
        .unwrap();
        let got: Vec<(Option<String>, String, Vec<i64>)> = jobs
            .iter()
            .map(|j| (j.key[0].clone(), j.dir.clone(), job_ids(j)))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some("b".into()), "p=b".into(), vec![0, 1, 3]),
                (Some("a".into()), "p=a".into(), vec![2, 5, 6]),
                (None, "p=__HIVE_DEFAULT_PARTITION__".into(), vec![4]),
                (Some("c".into()), "p=c".into(), vec![7]),
            ]
        );
    }

    /// The `id` column (the first) of a job's rows.
    fn job_ids(job: &Job) -> Vec<i64> {
        job.batch
            .column(0)
            .as_primitive::<arrow_array::types::Int64Type>()
            .values()
            .to_vec()
    }

    proptest::proptest! {
        /// Over two nullable partition columns (one numeric, one text) in
        /// any order, runs or not: every row lands once, in the job of its
        /// own partition values, rows keep their input order within a job,
        /// and jobs come in the order their partitions first appear.
        #[test]
        fn split_puts_each_row_in_its_partition_in_order(
            rows in proptest::collection::vec(
                (proptest::option::of(-2i32..3), proptest::option::of(0usize..3)),
                0..120,
            )
        ) {
            use silt_log::schema::{DataType as D, PrimitiveType as P, StructField};
            let names = ["x", "", "x y"];
            let schema = StructType::new(vec![
                StructField::new("id", D::Primitive(P::Long), true),
                StructField::new("n", D::Primitive(P::Integer), true),
                StructField::new("s", D::Primitive(P::String), true),
            ]);
            let batch = RecordBatch::try_from_iter(vec![
                (
                    "id",
                    Arc::new(arrow_array::Int64Array::from_iter_values(0..rows.len() as i64))
                        as ArrayRef,
                ),
                (
                    "n",
                    Arc::new(arrow_array::Int32Array::from(
                        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                    )),
                ),
                (
                    "s",
                    Arc::new(arrow_array::StringArray::from(
                        rows.iter().map(|r| r.1.map(|i| names[i])).collect::<Vec<_>>(),
                    )),
                ),
            ])
            .unwrap();
            let file_schema =
                Arc::new(Schema::new(vec![Field::new("id", ArrowType::Int64, true)]));
            let jobs = split(
                &batch,
                &schema,
                &["n".to_string(), "s".to_string()],
                &file_schema,
                ColumnMappingMode::None,
            )
            .unwrap();
            // The expected jobs, grouped naively row by row.
            let mut expected: Vec<(Vec<Option<String>>, Vec<i64>)> = Vec::new();
            for (i, (n, s)) in rows.iter().enumerate() {
                let key = vec![n.map(|v| v.to_string()), s.map(|k| names[k].to_string())];
                match expected.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, ids)) => ids.push(i as i64),
                    None => expected.push((key, vec![i as i64])),
                }
            }
            let got: Vec<(Vec<Option<String>>, Vec<i64>)> =
                jobs.iter().map(|j| (j.key.clone(), job_ids(j))).collect();
            proptest::prop_assert_eq!(got, expected);
        }
    }
}
