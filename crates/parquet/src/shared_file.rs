//! Data files the encoders share. Each encoder builds its own row groups
//! ([`RowGroupBuilder`]) and appends every finished one to the one open
//! file of its partition ([`SharedFile`]), so a write makes one file per
//! partition (rolled at the target size) however many encoders run, and
//! the encoding itself stays parallel: only the copy of finished pages
//! into the file happens under the file's lock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError as EncodeError, Result as EncodeResult};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::types::ColumnDescPtr;

use crate::column_writer::{self, ChunkPages, MakeWriter, OwnColumnWriter};
use crate::file_sink::{FileSink, SealedSink};
use crate::stats::StatsCollector;

/// Makes the column writers of new row groups with one set of writer
/// properties (shared by the encoders).
pub(crate) struct RowGroupFactory {
    inner: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    props: WriterProperties,
    /// Per top-level field: the leaf silt's own dictionary writer takes,
    /// if it takes the field.
    own_columns: Vec<Option<(ColumnDescPtr, MakeWriter)>>,
    /// Per top-level field: its Parquet leaves.
    field_leaves: Vec<usize>,
}

impl RowGroupFactory {
    /// `own_writer`: whether silt's own column writer takes the columns it
    /// is eligible for (else parquet-rs writes every column).
    pub(crate) fn new(
        schema: SchemaRef,
        props: WriterProperties,
        own_writer: bool,
    ) -> EncodeResult<Self> {
        // The factory of a writer to nowhere: column writers depend only on
        // the schema and the properties, not on the file they end up in.
        let (_, inner) =
            ArrowWriter::try_new(std::io::sink(), schema.clone(), Some(props.clone()))?
                .into_serialized_writer()?;
        // The leaves as the file writer sees them (the same conversion).
        let leaves = ArrowSchemaConverter::new()
            .with_coerce_types(props.coerce_types())
            .convert(&schema)?;
        let mut own_columns = vec![None; schema.fields().len()];
        let mut field_leaves = vec![0; schema.fields().len()];
        for (leaf, descr) in leaves.columns().iter().enumerate() {
            let root = leaves.get_column_root_idx(leaf);
            if let Some(n) = field_leaves.get_mut(root) {
                *n += 1;
            }
            if let Some(make) = schema
                .fields()
                .get(root)
                .filter(|_| own_writer)
                .and_then(|field| column_writer::own_writer(descr, field.data_type(), &props))
            {
                own_columns[root] = Some((descr.clone(), make));
            }
        }
        Ok(Self {
            inner,
            schema,
            props,
            own_columns,
            field_leaves,
        })
    }

    /// An empty row group.
    pub(crate) fn row_group(&self) -> EncodeResult<RowGroupBuilder> {
        let mut arrow = self.inner.create_column_writers(0)?.into_iter();
        let mut writers = Vec::new();
        for (own, leaves) in self.own_columns.iter().zip(&self.field_leaves) {
            // Each field's leaves in order; a field silt writes itself has
            // exactly one, whose parquet-rs writer is dropped.
            let taken = arrow.by_ref().take(*leaves);
            match own {
                Some((descr, make)) => {
                    taken.for_each(drop);
                    writers.push(ColumnWriter::Own(make(descr.clone(), &self.props)?))
                }
                None => writers.extend(taken.map(|w| ColumnWriter::Arrow(Box::new(w)))),
            }
        }
        Ok(RowGroupBuilder {
            writers,
            own_columns: self.own_columns.iter().map(Option::is_some).collect(),
            schema: self.schema.clone(),
            stats: StatsCollector::with_string_bounds_from_footer(),
            rows: 0,
            last_rows: 0,
        })
    }
}

/// One column chunk's writer: parquet-rs's, or silt's own for columns
/// that keep their dictionary.
enum ColumnWriter {
    Arrow(Box<ArrowColumnWriter>),
    Own(Box<dyn OwnColumnWriter>),
}

impl ColumnWriter {
    fn memory_size(&self) -> usize {
        match self {
            Self::Arrow(w) => w.memory_size(),
            Self::Own(w) => w.memory_size(),
        }
    }

    fn estimated_bytes(&self) -> usize {
        match self {
            Self::Arrow(w) => w.get_estimated_total_bytes(),
            Self::Own(w) => w.estimated_total_bytes(),
        }
    }

    fn close(self) -> EncodeResult<FinishedChunk> {
        Ok(match self {
            Self::Arrow(w) => FinishedChunk::Arrow(w.close()?),
            Self::Own(w) => {
                let (bytes, close) = w.close()?;
                FinishedChunk::Own(bytes, close)
            }
        })
    }
}

/// A finished column chunk, in memory until appended to a file.
pub(crate) enum FinishedChunk {
    Arrow(ArrowColumnChunk),
    Own(ChunkPages, ColumnCloseResult),
}

impl FinishedChunk {
    fn bytes(&self) -> usize {
        match self {
            Self::Arrow(c) => c.close().bytes_written as usize,
            Self::Own(_, close) => close.bytes_written as usize,
        }
    }

    pub(crate) fn append_to<W: std::io::Write + Send>(
        self,
        row_group: &mut SerializedRowGroupWriter<'_, W>,
    ) -> EncodeResult<()> {
        match self {
            Self::Arrow(c) => c.append_to_row_group(row_group),
            Self::Own(pages, close) => row_group.append_column(&pages, close),
        }
    }
}

/// One encoder's unfinished row group for one partition: encoded pages
/// held in memory until the row group is appended to a file.
pub(crate) struct RowGroupBuilder {
    writers: Vec<ColumnWriter>,
    /// Per top-level field: whether silt's own dictionary writer takes it.
    own_columns: Vec<bool>,
    schema: SchemaRef,
    /// Delta statistics of the rows added.
    pub(crate) stats: StatsCollector,
    rows: usize,
    /// The encoder's input row count when this row group last took rows.
    pub(crate) last_rows: u64,
}

impl RowGroupBuilder {
    /// Encodes `batch` (of the file schema) into the row group.
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> EncodeResult<()> {
        let mut writers = self.writers.iter_mut();
        let fields = self.schema.fields().iter().zip(&self.own_columns);
        for ((field, own), column) in fields.zip(batch.columns()) {
            let missing =
                || EncodeError::General(format!("no column writer for a leaf of {field}"));
            if *own {
                match writers.next().ok_or_else(missing)? {
                    ColumnWriter::Own(w) => w.write(column.as_ref())?,
                    ColumnWriter::Arrow(_) => return Err(missing()),
                }
                continue;
            }
            for leaf in compute_leaves(field, column)? {
                match writers.next().ok_or_else(missing)? {
                    ColumnWriter::Arrow(w) => w.write(&leaf)?,
                    ColumnWriter::Own(_) => return Err(missing()),
                }
            }
        }
        self.rows += batch.num_rows();
        Ok(())
    }

    /// Rows added.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes the row group holds in memory.
    pub(crate) fn memory_size(&self) -> usize {
        self.writers.iter().map(ColumnWriter::memory_size).sum()
    }

    /// Bytes the row group is expected to take in the file.
    pub(crate) fn estimated_bytes(&self) -> usize {
        self.writers.iter().map(ColumnWriter::estimated_bytes).sum()
    }

    /// Finishes the row group's column chunks.
    pub(crate) fn finish(self) -> EncodeResult<FinishedRowGroup> {
        Ok(FinishedRowGroup {
            chunks: self
                .writers
                .into_iter()
                .map(ColumnWriter::close)
                .collect::<EncodeResult<_>>()?,
            stats: self.stats,
        })
    }
}

/// A row group ready to be appended to a file.
pub(crate) struct FinishedRowGroup {
    chunks: Vec<FinishedChunk>,
    stats: StatsCollector,
}

impl FinishedRowGroup {
    /// Its column chunks, in order.
    #[cfg(test)]
    pub(crate) fn into_chunks(self) -> Vec<FinishedChunk> {
        self.chunks
    }

    /// Bytes its column chunks take in a file.
    pub(crate) fn bytes(&self) -> usize {
        self.chunks.iter().map(FinishedChunk::bytes).sum()
    }
}

/// A data file being written, taking row groups from any encoder.
pub(crate) struct SharedFile {
    writer: SerializedFileWriter<FileSink>,
    stats: StatsCollector,
}

impl SharedFile {
    /// A new file whose bytes go to `sink`.
    pub(crate) fn new(
        sink: FileSink,
        schema: SchemaRef,
        props: WriterProperties,
    ) -> EncodeResult<Self> {
        // Through ArrowWriter, so the footer carries the Arrow schema as
        // every Arrow-written file does.
        let (writer, _) =
            ArrowWriter::try_new(sink, schema, Some(props))?.into_serialized_writer()?;
        Ok(Self {
            writer,
            stats: StatsCollector::with_string_bounds_from_footer(),
        })
    }

    /// Writes `row_group` into the file.
    pub(crate) fn append(&mut self, row_group: FinishedRowGroup) -> EncodeResult<()> {
        let mut out = self.writer.next_row_group()?;
        for chunk in row_group.chunks {
            chunk.append_to(&mut out)?;
        }
        out.close()?;
        self.stats.merge(row_group.stats);
        Ok(())
    }

    /// Bytes written so far.
    pub(crate) fn bytes_written(&self) -> usize {
        self.writer.bytes_written()
    }

    /// Writes the footer (`into_inner` does) and hands the file's last bytes
    /// to the I/O; the file's statistics.
    pub(crate) fn seal(self) -> EncodeResult<(SealedSink, StatsCollector)> {
        let Self { writer, mut stats } = self;
        stats.add_footer_string_bounds(writer.flushed_row_groups());
        Ok((writer.into_inner()?.seal(), stats))
    }
}

/// Where one partition's rows go: its directory, its values, and its open
/// file (none between files).
pub(crate) struct PartitionSlot {
    pub(crate) dir: String,
    pub(crate) partition_values: HashMap<String, Option<String>>,
    file: Mutex<Option<SharedFile>>,
}

impl PartitionSlot {
    /// The open file, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<SharedFile>> {
        // A panic while the lock was held fails the whole write (the
        // panic is resumed when the encoders are joined), so what the lock
        // guards is never committed half-written.
        self.file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The partitions a write has seen, by partition key.
#[derive(Default)]
pub(crate) struct PartitionSlots {
    slots: Mutex<HashMap<Vec<Option<String>>, Arc<PartitionSlot>>>,
}

impl PartitionSlots {
    /// The slot of partition `key`, made on first use.
    pub(crate) fn get(
        &self,
        key: &[Option<String>],
        dir: &str,
        partition_values: &HashMap<String, Option<String>>,
    ) -> Arc<PartitionSlot> {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(slot) = slots.get(key) {
            return slot.clone();
        }
        let slot = Arc::new(PartitionSlot {
            dir: dir.to_string(),
            partition_values: partition_values.clone(),
            file: Mutex::new(None),
        });
        slots.insert(key.to_vec(), slot.clone());
        slot
    }

    /// Takes every file still open, with its slot.
    pub(crate) fn take_open(&self) -> Vec<(Arc<PartitionSlot>, SharedFile)> {
        let slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slots
            .values()
            .filter_map(|slot| slot.lock().take().map(|f| (slot.clone(), f)))
            .collect()
    }
}
