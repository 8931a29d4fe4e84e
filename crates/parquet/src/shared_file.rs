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
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::errors::{ParquetError as EncodeError, Result as EncodeResult};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use crate::file_sink::{FileSink, SealedSink};
use crate::stats::StatsCollector;

/// Makes the column writers of new row groups with one set of writer
/// properties (shared by the encoders).
pub(crate) struct RowGroupFactory {
    inner: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
}

impl RowGroupFactory {
    pub(crate) fn new(schema: SchemaRef, props: WriterProperties) -> EncodeResult<Self> {
        // The factory of a writer to nowhere: column writers depend only on
        // the schema and the properties, not on the file they end up in.
        let (_, inner) = ArrowWriter::try_new(std::io::sink(), schema.clone(), Some(props))?
            .into_serialized_writer()?;
        Ok(Self { inner, schema })
    }

    /// An empty row group.
    pub(crate) fn row_group(&self) -> EncodeResult<RowGroupBuilder> {
        Ok(RowGroupBuilder {
            writers: self.inner.create_column_writers(0)?,
            schema: self.schema.clone(),
            stats: StatsCollector::with_string_bounds_from_footer(),
            rows: 0,
            last_rows: 0,
        })
    }
}

/// One encoder's unfinished row group for one partition: encoded pages
/// held in memory until the row group is appended to a file.
pub(crate) struct RowGroupBuilder {
    /// One writer per Parquet leaf, in schema order.
    writers: Vec<ArrowColumnWriter>,
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
        for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
            for leaf in compute_leaves(field, column)? {
                let writer = writers.next().ok_or_else(|| {
                    EncodeError::General(format!("no column writer for a leaf of {field}"))
                })?;
                writer.write(&leaf)?;
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
        self.writers
            .iter()
            .map(ArrowColumnWriter::memory_size)
            .sum()
    }

    /// Bytes the row group is expected to take in the file.
    pub(crate) fn estimated_bytes(&self) -> usize {
        self.writers
            .iter()
            .map(ArrowColumnWriter::get_estimated_total_bytes)
            .sum()
    }

    /// Finishes the row group's column chunks.
    pub(crate) fn finish(self) -> EncodeResult<FinishedRowGroup> {
        Ok(FinishedRowGroup {
            chunks: self
                .writers
                .into_iter()
                .map(ArrowColumnWriter::close)
                .collect::<EncodeResult<_>>()?,
            stats: self.stats,
        })
    }
}

/// A row group ready to be appended to a file.
pub(crate) struct FinishedRowGroup {
    chunks: Vec<ArrowColumnChunk>,
    stats: StatsCollector,
}

impl FinishedRowGroup {
    /// Bytes its column chunks take in a file.
    pub(crate) fn bytes(&self) -> usize {
        self.chunks
            .iter()
            .map(|c| c.close().bytes_written as usize)
            .sum()
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
            chunk.append_to_row_group(&mut out)?;
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
