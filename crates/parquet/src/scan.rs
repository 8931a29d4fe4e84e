//! Scanning a snapshot into Arrow batches: partition pruning and file
//! skipping with the predicate, concurrent file reads, column mapping
//! resolved to logical names, partition columns materialized, deleted rows
//! (deletion vectors) removed, then the predicate applied to rows.

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow_schema::{Field, Schema, SchemaRef};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::file::metadata::PageIndexPolicy;
use parquet::file::reader::{ChunkReader, Length};
use silt_log::actions::Add;
use silt_log::expr::Expr;
use silt_log::partition::parse_partition_value;
use silt_log::schema::{DataType, StructType};
use silt_log::{LogStore, Snapshot};

use crate::arrow_values::{
    ColumnMappingMode, conform, find_file_child, logical_arrow_type, physical_name, repeat_scalar,
};
use crate::deletion_vector::{DeletedRows, DvLocation, locate, read_from_file};
use crate::error::{ParquetError, ParquetResult};
use crate::file_pruning::FilePruner;
use crate::filter::filter_batch;
use crate::scan_pieces::{FileRows, Piece};

/// How many files are read at once.
const DEFAULT_CONCURRENCY: usize = 8;

/// Files at least this large are read by byte ranges instead of whole.
const RANGED_READ_MIN: u64 = 4 << 20;

/// A data file read by byte ranges on demand, from a decode thread (which
/// may block on the runtime, being outside it).
#[derive(Clone)]
struct RangedFile {
    store: Arc<dyn LogStore>,
    key: String,
    size: u64,
    handle: tokio::runtime::Handle,
}

impl Length for RangedFile {
    fn len(&self) -> u64 {
        self.size
    }
}

/// A sequential reader over a [`RangedFile`] from some offset: it fetches
/// growing blocks (64 KiB doubling to 8 MiB) as it is read, so a column
/// chunk read from its start costs about its own size, not the file's rest.
struct RangeReader {
    file: RangedFile,
    pos: u64,
    block: u64,
    buf: Bytes,
}

impl std::io::Read for RangeReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buf.is_empty() {
            if self.pos >= self.file.size {
                return Ok(0);
            }
            let end = (self.pos + self.block).min(self.file.size);
            self.buf = self
                .file
                .handle
                .block_on(self.file.store.read_range(&self.file.key, self.pos..end))
                .map_err(std::io::Error::other)?;
            if self.buf.is_empty() {
                return Ok(0);
            }
            self.pos = end;
            self.block = (self.block * 2).min(8 << 20);
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        bytes::Buf::advance(&mut self.buf, n);
        Ok(n)
    }
}

/// A data file's bytes for the decoder: fetched by ranges, or whole.
#[derive(Clone)]
enum FileBody {
    Ranged(RangedFile),
    Whole(Bytes),
}

impl Length for FileBody {
    fn len(&self) -> u64 {
        match self {
            FileBody::Ranged(f) => f.size,
            FileBody::Whole(b) => b.len() as u64,
        }
    }
}

impl ChunkReader for FileBody {
    type T = Box<dyn std::io::Read + Send>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(match self {
            FileBody::Ranged(f) => Box::new(f.get_read(start)?),
            FileBody::Whole(b) => Box::new(b.get_read(start)?),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match self {
            FileBody::Ranged(f) => f.get_bytes(start, length),
            FileBody::Whole(b) => b.get_bytes(start, length),
        }
    }
}

impl ChunkReader for RangedFile {
    type T = RangeReader;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(RangeReader {
            file: RangedFile {
                store: self.store.clone(),
                key: self.key.clone(),
                size: self.size,
                handle: self.handle.clone(),
            },
            pos: start.min(self.size),
            block: 64 << 10,
            buf: Bytes::new(),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let end = start
            .checked_add(length as u64)
            .filter(|e| *e <= self.size)
            .ok_or_else(|| {
                parquet::errors::ParquetError::EOF(format!(
                    "bytes {start}+{length} are past the file's {} bytes",
                    self.size
                ))
            })?;
        self.handle
            .block_on(self.store.read_range(&self.key, start..end))
            .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
    }
}

/// The files a scan chooses from: a snapshot's list, decoded one file at a
/// time as the scan selects (a million-file table is never held as
/// `Add`s), or a fixed set.
#[derive(Debug, Clone)]
enum ScanFiles {
    List(silt_log::FileList),
    Fixed(Vec<Add>),
}

impl ScanFiles {
    fn iter(&self) -> Box<dyn Iterator<Item = std::borrow::Cow<'_, Add>> + '_> {
        match self {
            ScanFiles::List(l) => Box::new(l.iter()),
            ScanFiles::Fixed(v) => Box::new(v.iter().map(std::borrow::Cow::Borrowed)),
        }
    }

    fn to_vec(&self) -> Vec<Add> {
        match self {
            ScanFiles::List(l) => l.to_vec(),
            ScanFiles::Fixed(v) => v.clone(),
        }
    }
}

/// A scan of one snapshot.
#[derive(Debug, Clone)]
#[must_use = "a scan does nothing until executed"]
pub struct Scan {
    store: Arc<dyn LogStore>,
    table: String,
    version: u64,
    schema: StructType,
    partition_columns: Vec<String>,
    mode: ColumnMappingMode,
    files: ScanFiles,
    columns: Option<Vec<String>>,
    predicate: Option<Expr>,
    limit: Option<usize>,
    concurrency: usize,
    ranged_min: u64,
    /// Rows decoded from data files (before deletion vectors and the
    /// predicate), shared by the scan's clones.
    decoded: Arc<std::sync::atomic::AtomicU64>,
}

/// What a scan will read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanPlan {
    /// Files to read.
    pub files: usize,
    /// Files skipped by partition values or statistics.
    pub skipped: usize,
}

impl Scan {
    /// Scans `snapshot` (all columns, all rows).
    pub fn new(snapshot: &Snapshot) -> Self {
        Self {
            files: ScanFiles::List(snapshot.files().clone()),
            ..Self::new_empty(snapshot)
        }
    }

    /// Scans `files` (adds or removed files of any version) with `schema`
    /// (the table schema, possibly extended, e.g. by `_change_type`).
    pub fn of_files(snapshot: &Snapshot, schema: StructType, files: Vec<Add>) -> Self {
        Self {
            schema,
            files: ScanFiles::Fixed(files),
            ..Self::new_empty(snapshot)
        }
    }

    fn new_empty(snapshot: &Snapshot) -> Self {
        let metadata = snapshot.metadata();
        Self {
            store: snapshot.store().clone(),
            table: snapshot.location().to_string(),
            version: snapshot.version(),
            schema: metadata.schema().clone(),
            partition_columns: metadata.partition_columns.clone(),
            mode: ColumnMappingMode::from_property(
                metadata.property(silt_log::properties::COLUMN_MAPPING_MODE),
            ),
            files: ScanFiles::Fixed(Vec::new()),
            columns: None,
            predicate: None,
            limit: None,
            concurrency: DEFAULT_CONCURRENCY,
            ranged_min: RANGED_READ_MIN,
            decoded: Arc::default(),
        }
    }

    /// Only these columns, in this order.
    pub fn select(mut self, columns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Only rows matching the predicate (also used to skip files).
    pub fn filter(mut self, predicate: Expr) -> Self {
        self.predicate = Some(predicate);
        self
    }

    /// At most this many rows.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Files of at least this many bytes (by their `add.size`) are read by
    /// byte ranges — footer, then the needed column chunks — instead of
    /// whole (default 4 MiB).
    pub fn range_reads_from(mut self, bytes: u64) -> Self {
        self.ranged_min = bytes;
        self
    }

    /// Files read at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Rows decoded from data files so far by this scan and its clones,
    /// before deletion vectors and the predicate remove any: what row-group
    /// and page pruning left to read.
    pub fn rows_decoded(&self) -> u64 {
        self.decoded.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn invalid(&self, reason: String) -> ParquetError {
        ParquetError::InvalidScan {
            table: self.table.clone(),
            reason,
        }
    }

    /// The output schema (logical names and types).
    pub fn output_schema(&self) -> ParquetResult<SchemaRef> {
        let fields = self
            .output_columns()?
            .iter()
            .map(|name| {
                let f = self.field(name)?;
                let dt =
                    logical_arrow_type(&f.data_type).map_err(|e| self.invalid(e.to_string()))?;
                // Nullable: files written before a NOT NULL column existed
                // give nulls for it.
                Ok(Field::new(&f.name, dt, true))
            })
            .collect::<ParquetResult<Vec<_>>>()?;
        Ok(Arc::new(Schema::new(fields)))
    }

    fn field(&self, name: &str) -> ParquetResult<&silt_log::schema::StructField> {
        self.schema
            .fields
            .iter()
            .find(|f| f.name == name)
            .or_else(|| {
                self.schema
                    .fields
                    .iter()
                    .find(|f| f.name.eq_ignore_ascii_case(name))
            })
            .ok_or_else(|| self.invalid(format!("no column {name:?} in the table")))
    }

    fn output_columns(&self) -> ParquetResult<Vec<String>> {
        match &self.columns {
            Some(c) => c.iter().map(|n| Ok(self.field(n)?.name.clone())).collect(),
            None => Ok(self.schema.fields.iter().map(|f| f.name.clone()).collect()),
        }
    }

    /// Columns read: the output plus what the predicate needs.
    fn read_columns(&self) -> ParquetResult<Vec<String>> {
        let mut cols = self.output_columns()?;
        if let Some(p) = &self.predicate {
            for c in p.columns() {
                let top = c.split('.').next().unwrap_or(c);
                let name = self.field(top)?.name.clone();
                if !cols.contains(&name) {
                    cols.push(name);
                }
            }
        }
        Ok(cols)
    }

    fn selected_files(&self) -> ParquetResult<(Vec<Add>, usize)> {
        let Some(pred) = &self.predicate else {
            return Ok((self.files.to_vec(), 0));
        };
        pred.validate(&self.schema)
            .map_err(|e| self.invalid(e.to_string()))?;
        let physical = |c: &str| -> String {
            // Statistics use physical names at every level.
            let mut fields = &self.schema.fields;
            let mut out = Vec::new();
            for part in c.split('.') {
                match fields.iter().find(|f| f.name.eq_ignore_ascii_case(part)) {
                    Some(f) => {
                        out.push(physical_name(f, self.mode).to_string());
                        if let DataType::Struct(s) = &f.data_type {
                            fields = &s.fields;
                        }
                    }
                    None => out.push(part.to_string()),
                }
            }
            out.join(".")
        };
        let mut kept = Vec::new();
        let mut skipped = 0;
        for f in self.files.iter() {
            let stats = f.parsed_stats().ok().flatten();
            let pv = crate::arrow_values::logical_partition_values(
                &f.partition_values,
                &self.schema,
                &self.partition_columns,
                self.mode,
            );
            if pred.can_skip_file(&self.schema, &pv, stats.as_ref(), &physical) {
                skipped += 1;
            } else {
                kept.push(f.into_owned());
            }
        }
        Ok((kept, skipped))
    }

    /// Which files the scan reads and skips.
    pub fn plan(&self) -> ParquetResult<ScanPlan> {
        let (files, skipped) = self.selected_files()?;
        Ok(ScanPlan {
            files: files.len(),
            skipped,
        })
    }

    /// Runs the scan as a stream of batches (files read concurrently, in
    /// order of the file list).
    pub fn stream(
        self,
    ) -> ParquetResult<impl futures::Stream<Item = ParquetResult<RecordBatch>> + Send + 'static>
    {
        let (files, _) = self.selected_files()?;
        let output = self.output_schema()?;
        let read_columns = self.read_columns()?;
        let this = Arc::new(self);
        let concurrency = this.concurrency;
        // Each file's rows are decoded in pieces side by side, as many
        // as its share of the scan's bytes is of the cores (rounded up), so
        // one large file, or one of a few unequal ones, leaves no core idle.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u128;
        let total: u128 = files.iter().map(|f| f.size.max(1) as u128).sum();
        let stream = futures::stream::iter(files)
            .map(move |file| {
                let this = this.clone();
                let output = output.clone();
                let read_columns = read_columns.clone();
                let pieces = (cores * file.size.max(1) as u128).div_ceil(total.max(1)) as usize;
                async move { this.read_file(file, output, read_columns, pieces).await }
            })
            .buffered(concurrency)
            .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
            .try_flatten();
        Ok(stream)
    }

    /// Runs the scan and collects every batch (honouring the limit).
    pub async fn collect(self) -> ParquetResult<Vec<RecordBatch>> {
        let limit = self.limit;
        let mut stream = Box::pin(self.stream()?);
        let mut out = Vec::new();
        let mut rows = 0usize;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            if let Some(l) = limit {
                if rows >= l {
                    break;
                }
                let take = (l - rows).min(batch.num_rows());
                rows += take;
                out.push(batch.slice(0, take));
            } else {
                rows += batch.num_rows();
                out.push(batch);
            }
        }
        Ok(out)
    }

    /// Counts the rows the scan returns.
    pub async fn count(self) -> ParquetResult<u64> {
        Ok(self
            .collect()
            .await?
            .iter()
            .map(|b| b.num_rows() as u64)
            .sum())
    }

    async fn read_object(&self, add: &Add, path: &str) -> ParquetResult<Bytes> {
        self.store.read(path).await.map_err(|e| ParquetError::File {
            table: self.table.clone(),
            version: self.version,
            file: add.path.to_string(),
            reason: e.to_string(),
        })
    }

    /// The object key of a file path from the log.
    fn object_key(&self, add: &Add, raw: &str) -> ParquetResult<String> {
        let path = silt_log::path::FilePath::parse(raw)
            .map_err(|e| self.file_error(add, e.to_string()))?;
        if let Some(rel) = path.relative_decoded() {
            return Ok(rel);
        }
        if let Some(rel) = table_relative_key(&self.table, raw) {
            return Ok(rel);
        }
        Err(self.file_error(
            add,
            format!("absolute path {raw} is outside the table's store; silt follows absolute paths only within it"),
        ))
    }
}

/// The key below the table root of an absolute path inside the table
/// (`None` when the path points elsewhere).
pub fn table_relative_key(table: &str, raw: &str) -> Option<String> {
    let decoded = silt_log::path::percent_decode(raw).unwrap_or_else(|| raw.to_string());
    let root = table.trim_end_matches('/');
    let local_root = root.strip_prefix("file://").unwrap_or(root);
    for prefix in [root, local_root] {
        for candidate in [raw, decoded.as_str()] {
            let c = candidate
                .strip_prefix("file://")
                .or_else(|| candidate.strip_prefix("file:"))
                .unwrap_or(candidate);
            let p = prefix.strip_prefix("file://").unwrap_or(prefix);
            if let Some(rest) = c.strip_prefix(p).and_then(|r| r.strip_prefix('/')) {
                return Some(rest.to_string());
            }
        }
    }
    None
}

impl Scan {
    fn file_error(&self, add: &Add, reason: impl Into<String>) -> ParquetError {
        ParquetError::File {
            table: self.table.clone(),
            version: self.version,
            file: add.path.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) async fn deleted_rows(&self, add: &Add) -> ParquetResult<Option<DeletedRows>> {
        let Some(dv) = &add.deletion_vector else {
            return Ok(None);
        };
        let bad = |e: String| self.file_error(add, format!("deletion vector: {e}"));
        let dv_err = |e: crate::deletion_vector::DvError| bad(e.to_string());
        let rows = match locate(dv).map_err(dv_err)? {
            DvLocation::Inline(bytes) => {
                crate::deletion_vector::DeletedRows::deserialize(&bytes).map_err(dv_err)?
            }
            DvLocation::File { path, offset } => {
                let bytes = self.read_object(add, &path).await?;
                read_from_file(&bytes, offset, dv.size_in_bytes).map_err(dv_err)?
            }
            DvLocation::Absolute { uri, offset } => {
                let key = self.object_key(add, &uri)?;
                let bytes = self.read_object(add, &key).await?;
                read_from_file(&bytes, offset, dv.size_in_bytes).map_err(dv_err)?
            }
        };
        if rows.len() != dv.cardinality as u64 {
            return Err(bad(format!(
                "holds {} rows but the descriptor says {}",
                rows.len(),
                dv.cardinality
            )));
        }
        Ok(Some(rows))
    }

    /// Reads and decodes one file on a blocking thread. A large file the
    /// decoder reads selectively (some columns, or row groups skipped by the
    /// predicate) is fetched by byte ranges — the footer, then only the
    /// column chunks decoded; otherwise the file is read whole, which is
    /// faster when everything is decoded. A ranged attempt that fails is
    /// retried whole: a size in the log that does not match the object
    /// (seen in some writers' tables) breaks the footer lookup, while a
    /// whole read needs no size.
    async fn read_file(
        &self,
        add: Add,
        output: SchemaRef,
        read_columns: Vec<String>,
        pieces: usize,
    ) -> ParquetResult<Vec<RecordBatch>> {
        let deleted = self.deleted_rows(&add).await?;
        let key = self.object_key(&add, add.path.as_str())?;
        let size = u64::try_from(add.size).unwrap_or(0);
        // Byte ranges pay off when part of the file goes unread: columns
        // left out, or rows a predicate on data columns can prune. A
        // predicate on partition columns only has already chosen the file,
        // which is then read whole.
        let prunes_rows = self.predicate.as_ref().is_some_and(|p| {
            p.columns()
                .iter()
                .any(|c| !self.partition_columns.iter().any(|pc| pc == c))
        });
        let selective = prunes_rows || read_columns.len() < self.schema.fields.len();
        let decode = |body: FileBody| {
            let this = self.clone_for_decode();
            let (add2, deleted) = (add.clone(), deleted.clone());
            let (output, read_columns) = (output.clone(), read_columns.clone());
            async {
                tokio::task::spawn_blocking(move || {
                    this.decode_in_pieces(&add2, body, deleted, &output, &read_columns, pieces)
                })
                .await
                .map_err(|e| self.file_error(&add, format!("decode task failed: {e}")))?
            }
        };
        if selective && size >= self.ranged_min && size > 0 {
            let file = RangedFile {
                store: self.store.clone(),
                key: key.clone(),
                size,
                handle: tokio::runtime::Handle::current(),
            };
            if let Ok(out) = decode(FileBody::Ranged(file)).await {
                return Ok(out);
            }
        }
        let bytes = self.read_object(&add, &key).await?;
        decode(FileBody::Whole(bytes)).await
    }

    /// A copy without the file list (decode threads do not need it).
    fn clone_for_decode(&self) -> Scan {
        Scan {
            store: self.store.clone(),
            table: self.table.clone(),
            version: self.version,
            schema: self.schema.clone(),
            partition_columns: self.partition_columns.clone(),
            mode: self.mode,
            files: ScanFiles::Fixed(Vec::new()),
            columns: self.columns.clone(),
            predicate: self.predicate.clone(),
            limit: self.limit,
            concurrency: self.concurrency,
            ranged_min: self.ranged_min,
            decoded: self.decoded.clone(),
        }
    }

    /// Decodes a file in up to `pieces` pieces of about equal rows, decoded
    /// side by side (see [`crate::scan_pieces`]), each removing the deleted
    /// rows among its own.
    fn decode_in_pieces(
        &self,
        add: &Add,
        body: FileBody,
        deleted: Option<DeletedRows>,
        output: &SchemaRef,
        read_columns: &[String],
        pieces: usize,
    ) -> ParquetResult<Vec<RecordBatch>> {
        if pieces < 2 {
            return self.decode(add, body, deleted.as_ref(), output, read_columns, None);
        }
        // The offset index lets a piece start inside a row group and skip
        // the pages before it unread. A file whose page index does not
        // parse, or does not fit its footer, is read without it.
        let load = |policy| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                ArrowReaderMetadata::load(
                    &body,
                    ArrowReaderOptions::new().with_page_index_policy(policy),
                )
            }))
            .map_err(|_| self.corrupt_input(add))?
            .map_err(|e| self.file_error(add, format!("not a readable Parquet file: {e}")))
        };
        let meta = match load(PageIndexPolicy::Optional) {
            Ok(meta) if crate::scan_pieces::offset_index_is_sound(meta.metadata()) => meta,
            _ => load(PageIndexPolicy::Skip)?,
        };
        let group_rows: Vec<usize> = meta
            .metadata()
            .row_groups()
            .iter()
            .map(|g| usize::try_from(g.num_rows()).unwrap_or(0))
            .collect();
        let starts = crate::scan_pieces::page_starts(meta.metadata());
        let mut planned = crate::scan_pieces::plan(&group_rows, starts.as_deref(), pieces);
        if planned.len() == 1 {
            let piece = planned.pop();
            return self.decode(
                add,
                body,
                deleted.as_ref(),
                output,
                read_columns,
                piece.map(|p| (meta, p)),
            );
        }
        std::thread::scope(|scope| {
            let decoding: Vec<_> = planned
                .into_iter()
                .map(|piece| {
                    let (body, meta, deleted) = (body.clone(), meta.clone(), deleted.as_ref());
                    scope.spawn(move || {
                        self.decode(
                            add,
                            body,
                            deleted,
                            output,
                            read_columns,
                            Some((meta, piece)),
                        )
                    })
                })
                .collect();
            let mut out = Vec::new();
            for piece in decoding {
                out.extend(
                    piece
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p))?,
                );
            }
            Ok(out)
        })
    }

    /// Reader options: the page index is read only when pruning uses it.
    fn reader_options(&self, prune: bool) -> ArrowReaderOptions {
        ArrowReaderOptions::new().with_page_index_policy(if prune {
            PageIndexPolicy::Optional
        } else {
            PageIndexPolicy::Skip
        })
    }

    /// Decodes a file (with `piece`, only that piece's rows) into its
    /// batches.
    fn decode<R: ChunkReader + 'static>(
        &self,
        add: &Add,
        bytes: R,
        deleted: Option<&DeletedRows>,
        output: &SchemaRef,
        read_columns: &[String],
        piece: Option<(ArrowReaderMetadata, Piece)>,
    ) -> ParquetResult<Vec<RecordBatch>> {
        let mut out = Vec::new();
        self.decode_each(
            add,
            bytes,
            deleted,
            output,
            read_columns,
            false,
            piece,
            &mut |b, _| {
                out.push(b);
                true
            },
        )?;
        Ok(out)
    }

    fn corrupt_input(&self, add: &Add) -> ParquetError {
        self.file_error(add, "the Parquet decoder failed on corrupt input")
    }

    /// Decodes a file (with `piece`, only that piece's rows, its footer
    /// already read), handing each batch (and its rows' positions when
    /// asked) to `emit` as it is decoded; `emit` returns false to stop.
    #[allow(clippy::too_many_arguments)] // one private decode path, called three ways
    fn decode_each<R: ChunkReader + 'static>(
        &self,
        add: &Add,
        bytes: R,
        deleted: Option<&DeletedRows>,
        output: &SchemaRef,
        read_columns: &[String],
        positions: bool,
        piece: Option<(ArrowReaderMetadata, Piece)>,
        emit: &mut dyn FnMut(RecordBatch, Vec<u64>) -> bool,
    ) -> ParquetResult<()> {
        // The Parquet and Arrow decoders can panic on corrupt files; a
        // corrupt data file must be a typed error naming it.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.decode_unguarded(
                add,
                bytes,
                deleted,
                output,
                read_columns,
                positions,
                piece,
                emit,
            )
        }))
        .unwrap_or_else(|_| Err(self.corrupt_input(add)))
    }

    #[allow(clippy::too_many_arguments)] // see decode_each
    fn decode_unguarded<R: ChunkReader + 'static>(
        &self,
        add: &Add,
        bytes: R,
        deleted: Option<&DeletedRows>,
        output: &SchemaRef,
        read_columns: &[String],
        positions: bool,
        piece: Option<(ArrowReaderMetadata, Piece)>,
        emit: &mut dyn FnMut(RecordBatch, Vec<u64>) -> bool,
    ) -> ParquetResult<()> {
        let err = |e: String| self.file_error(add, e);
        // Pruning inside the file (row groups by their statistics, pages by
        // the page index) only when row positions are not needed: deletion
        // vectors and deletes count rows from the start of the file.
        let prune = self
            .predicate
            .as_ref()
            .filter(|_| deleted.is_none() && !positions);
        // Where each row returned sits in the file (pruning is off whenever
        // positions matter, so a piece returns exactly its spans' rows).
        let mut file_rows = piece
            .as_ref()
            .map_or_else(FileRows::whole_file, |(_, p)| p.file_rows());
        let (builder, piece) = match piece {
            Some((meta, piece)) => (
                ParquetRecordBatchReaderBuilder::new_with_metadata(bytes, meta),
                Some(piece),
            ),
            None => (
                ParquetRecordBatchReaderBuilder::try_new_with_options(
                    bytes,
                    self.reader_options(prune.is_some()),
                )
                .map_err(|e| err(format!("not a readable Parquet file: {e}")))?,
                None,
            ),
        };
        let file_schema = builder.schema().clone();
        // Resolve each column read to a file column (or a partition value).
        let mut sources: Vec<(String, Source)> = Vec::new();
        let mut roots = Vec::new();
        for name in read_columns {
            let field = self.field(name)?;
            if self.partition_columns.iter().any(|p| p == name) {
                let DataType::Primitive(p) = &field.data_type else {
                    return Err(err(format!("partition column {name} is not primitive")));
                };
                let raw = add
                    .partition_values
                    .get(name)
                    .or_else(|| add.partition_values.get(physical_name(field, self.mode)))
                    .cloned()
                    .flatten();
                let value = parse_partition_value(raw.as_deref(), p)
                    .map_err(|e| err(format!("partition column {name}: {e}")))?;
                sources.push((name.clone(), Source::Partition(value)));
                continue;
            }
            match find_file_child(file_schema.fields(), field, self.mode) {
                Some((i, _)) => {
                    roots.push(i);
                    sources.push((name.clone(), Source::File(i)));
                }
                None => sources.push((name.clone(), Source::Missing)),
            }
        }
        roots.sort_unstable();
        roots.dedup();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots.clone());
        let builder = match prune {
            Some(pred) => {
                let pruner = FilePruner::new(pred, &self.schema, self.mode, builder.metadata());
                let mut keep = pruner.row_groups();
                if let Some(piece) = &piece {
                    keep.retain(|g| piece.has_group(*g));
                }
                let pruned = pruner.row_selection(&keep);
                let selection = match (pruned, piece.as_ref().and_then(|p| p.selection(&keep))) {
                    (Some(a), Some(b)) => Some(a.intersection(&b)),
                    (a, b) => a.or(b),
                };
                let builder = if keep.len() < builder.metadata().num_row_groups() {
                    builder.with_row_groups(keep)
                } else {
                    builder
                };
                match selection {
                    Some(s) => builder.with_row_selection(s),
                    None => builder,
                }
            }
            None => match piece {
                Some(piece) => {
                    let groups = piece.groups();
                    let selection = piece.selection(&groups);
                    let builder = builder.with_row_groups(groups);
                    match selection {
                        Some(s) => builder.with_row_selection(s),
                        None => builder,
                    }
                }
                None => builder,
            },
        };
        let reader = builder
            .with_projection(mask)
            .with_batch_size(8192)
            .build()
            .map_err(|e| err(format!("cannot read Parquet: {e}")))?;
        for batch in reader {
            let batch = batch.map_err(|e| err(format!("cannot decode Parquet: {e}")))?;
            let n = batch.num_rows();
            self.decoded
                .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(sources.len());
            let mut fields = Vec::with_capacity(sources.len());
            for (name, source) in &sources {
                let f = self.field(name)?;
                let dt = logical_arrow_type(&f.data_type).map_err(|e| err(e.to_string()))?;
                let array = match source {
                    Source::File(i) => {
                        // Position of root `i` within the projected batch.
                        let pos = roots.iter().position(|r| r == i).unwrap_or(0);
                        conform(batch.column(pos), &f.data_type, self.mode)
                            .map_err(|e| err(format!("column {name}: {e}")))?
                    }
                    Source::Partition(v) => {
                        repeat_scalar(v, &dt, n).map_err(|e| err(e.to_string()))?
                    }
                    Source::Missing => arrow_array::new_null_array(&dt, n),
                };
                fields.push(Field::new(name, array.data_type().clone(), true));
                columns.push(array);
            }
            let mut rb = RecordBatch::try_new_with_options(
                Arc::new(Schema::new(fields)),
                columns,
                &RecordBatchOptions::new().with_row_count(Some(n)),
            )
            .map_err(|e| err(e.to_string()))?;
            let mut pos: Vec<u64> = if positions || deleted.is_some() {
                file_rows.next_rows(n)
            } else {
                Vec::new()
            };
            if let Some(d) = deleted {
                let keep: BooleanArray = pos.iter().map(|p| Some(!d.contains(*p))).collect();
                rb = arrow_select::filter::filter_record_batch(&rb, &keep)
                    .map_err(|e| err(e.to_string()))?;
                pos.retain(|p| !d.contains(*p));
            }
            if !positions {
                pos.clear();
            }
            if let Some(p) = &self.predicate {
                rb = filter_batch(p, &self.schema, &rb).map_err(|e| err(e.to_string()))?;
            }
            // Final projection to the output schema.
            let cols: Vec<ArrayRef> = output
                .fields()
                .iter()
                .map(|f| {
                    let i = sources.iter().position(|(n, _)| n == f.name()).unwrap_or(0);
                    rb.column(i).clone()
                })
                .collect();
            let projected = RecordBatch::try_new_with_options(
                output.clone(),
                cols,
                &RecordBatchOptions::new().with_row_count(Some(rb.num_rows())),
            )
            .map_err(|e| err(e.to_string()))?;
            if projected.num_rows() > 0 && !emit(projected, pos) {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Reads one file with all table columns and no predicate, deleted rows
    /// removed: the batches and each kept row's index in the file.
    pub async fn read_with_positions(
        &self,
        add: &Add,
    ) -> ParquetResult<Vec<(RecordBatch, Vec<u64>)>> {
        self.stream_with_positions(add.clone()).try_collect().await
    }

    /// Like [`Scan::read_with_positions`], as a stream: batches arrive as
    /// they are decoded (a bounded queue from the decode thread), so memory
    /// holds a few batches of the file, not all of it.
    pub fn stream_with_positions(
        &self,
        add: Add,
    ) -> impl futures::Stream<Item = ParquetResult<(RecordBatch, Vec<u64>)>> + Send + use<> {
        let this = Scan {
            predicate: None,
            columns: None,
            ..self.clone_for_decode()
        };
        // `Ok(None)` marks the end: a channel that closes without it (a
        // task that died) is an error, never a silently shorter file.
        type Item = ParquetResult<Option<(RecordBatch, Vec<u64>)>>;
        let (tx, rx) = tokio::sync::mpsc::channel::<Item>(2);
        let table = self.table.clone();
        let file = add.path.to_string();
        let version = self.version;
        tokio::spawn(async move {
            let run = async {
                let key = this.object_key(&add, add.path.as_str())?;
                let (bytes, deleted) =
                    futures::try_join!(this.read_object(&add, &key), this.deleted_rows(&add))?;
                let output = this.output_schema()?;
                let cols = this.read_columns()?;
                let decoder = this.clone_for_decode();
                let add2 = add.clone();
                let tx2 = tx.clone();
                tokio::task::spawn_blocking(move || {
                    decoder.decode_each(
                        &add2,
                        bytes,
                        deleted.as_ref(),
                        &output,
                        &cols,
                        true,
                        None,
                        &mut |b, p| tx2.blocking_send(Ok(Some((b, p)))).is_ok(),
                    )
                })
                .await
                .map_err(|e| this.file_error(&add, format!("decode task failed: {e}")))?
            };
            let end = match run.await {
                Ok(()) => Ok(None),
                Err(e) => Err(e),
            };
            let _ = tx.send(end).await;
        });
        futures::stream::unfold(Some(rx), move |rx| {
            let (table, file) = (table.clone(), file.clone());
            async move {
                let mut rx = rx?;
                match rx.recv().await {
                    Some(Ok(Some(item))) => Some((Ok(item), Some(rx))),
                    Some(Ok(None)) => None,
                    Some(Err(e)) => Some((Err(e), None)),
                    None => Some((
                        Err(ParquetError::File {
                            table,
                            version,
                            file,
                            reason: "the decode task stopped before the end of the file".into(),
                        }),
                        None,
                    )),
                }
            }
        })
    }

    /// The files a predicate cannot rule out.
    pub fn candidates(&self) -> ParquetResult<Vec<Add>> {
        Ok(self.selected_files()?.0)
    }

    /// The predicate, if any.
    pub(crate) fn predicate(&self) -> Option<&Expr> {
        self.predicate.as_ref()
    }
}

#[derive(Debug, Clone)]
enum Source {
    File(usize),
    Partition(silt_log::partition::Scalar),
    Missing,
}
