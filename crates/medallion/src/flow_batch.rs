//! One batch of one flow: read what is new from each input (through
//! temporary views, with their expectations), run the query, apply the
//! target's expectations, and commit the rows with the flow's progress in
//! one Delta commit. Planning (inputs → rows) and committing are separate
//! steps, so the row work can later run as tasks elsewhere while the
//! commit stays here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::future::BoxFuture;
use silt_log::{CommitOutcome, CommitStamp, FileMeta, LogError, LogStore};
use silt_sql::SiltSession;

use crate::error::{PipelineError, PipelineResult};
use crate::expectations::{ExpectationCount, run_checked};
use crate::pipeline::{FlowPlan, Pipeline, PlannedFlow};
use crate::progress::{FlowProgress, app_id};
use crate::query::{InputSource, RewrittenQuery};
use crate::session_rows::{register_rows, register_table};
use crate::sources::delta::{DeltaStreamOptions, next_batch};
use crate::sources::files::{CleanSource, FileOptions, FilesProgress, clean_ingested, read_files};
use crate::sources::listing::{FullListings, list_landing, listing_kind, pending_files};
use crate::{cdc, tables};

/// What one batch did.
#[derive(Debug, Clone)]
pub enum BatchOutcome {
    /// Rows (possibly none) and progress committed.
    Committed(BatchReport),
    /// Nothing new to read.
    Idle,
    /// Not run, and why (inputs unchanged, waiting for an upstream table,
    /// a one-shot flow already run).
    Skipped(String),
    /// Another process committed this batch first: plan again.
    Raced,
}

/// A committed batch.
#[derive(Debug, Clone, Default)]
pub struct BatchReport {
    /// The batch number (the `txn` version).
    pub batch: i64,
    /// The target's version it committed.
    pub version: u64,
    /// Rows the query produced.
    pub rows_in: u64,
    /// Rows written (AUTO CDC: inserted + updated + deleted).
    pub rows_out: u64,
    /// Expectation counts (target and views read).
    pub expectations: Vec<ExpectationCount>,
    /// Per input: what was read.
    pub sources: BTreeMap<String, serde_json::Value>,
    /// Flow-specific figures (AUTO CDC metrics).
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Post-commit work of the batch's commit that failed (a checkpoint):
    /// the batch stands; the runner reports it in the event log.
    pub post_commit_error: Option<silt_log::PostCommitError>,
}

/// Settings of the run a batch belongs to.
#[derive(Debug, Clone, Default)]
pub struct BatchSettings {
    /// Recompute materialized views even when their inputs are unchanged.
    pub force_recompute: bool,
    /// Landing files must be this old before they are read (continuous
    /// runs use a small default so half-written files wait).
    pub min_file_age_ms: Option<i64>,
    /// When this process last listed each landing source in full.
    pub full_listings: FullListings,
}

/// Runs one batch of `flow`.
pub async fn run_batch(
    p: &Pipeline,
    flow: &PlannedFlow,
    settings: &BatchSettings,
) -> PipelineResult<BatchOutcome> {
    let uri = p.dataset_uri(&flow.target);
    let target = tables::load(&uri, &p.storage_options).await?;
    let before = FlowProgress::read(target.as_ref(), &p.name, &flow.name)
        .map_err(|m| PipelineError::flow(&flow.name, m.0))?;
    if flow.once && before.once_done {
        return Ok(BatchOutcome::Skipped("a one-shot flow that has run".into()));
    }
    let app = app_id(&p.name, &flow.name);
    let batch = target
        .as_ref()
        .and_then(|s| s.txn_version(&app))
        .map_or(0, |v| v + 1);
    let session = SiltSession::with_storage_options(p.storage_options.clone());
    let mut inputs = Inputs {
        p,
        flow: &flow.name,
        stream_options: stream_options(p, flow),
        settings,
        before: &before,
        next: before.clone(),
        streams: 0,
        advanced: false,
        waiting: None,
        counts: Vec::new(),
        sources: BTreeMap::new(),
        defer_unchanged: matches!(flow.plan, FlowPlan::Recompute(_))
            && target.is_some()
            && !settings.force_recompute,
        in_view: 0,
        deferred: Vec::new(),
    };
    inputs.register(&session, flow.query()).await?;
    if let Some(w) = inputs.waiting {
        return Ok(BatchOutcome::Skipped(w));
    }
    let skipped = inputs.defer_unchanged && inputs.next.upstream == before.upstream;
    if !skipped {
        inputs.read_deferred(&session).await?;
    }
    let (streams, advanced) = (inputs.streams, inputs.advanced);
    let mut next = inputs.next;
    let mut counts = inputs.counts;
    let sources = inputs.sources;
    match &flow.plan {
        FlowPlan::Recompute(_)
            if target.is_some()
                && next.upstream == before.upstream
                && !settings.force_recompute =>
        {
            return Ok(BatchOutcome::Skipped("inputs unchanged".into()));
        }
        FlowPlan::Recompute(_) => {}
        _ if streams > 0 && !advanced => return Ok(BatchOutcome::Idle),
        _ if streams == 0 && before.once_done => {
            return Ok(BatchOutcome::Skipped(
                "no streaming input: runs once".into(),
            ));
        }
        _ => {}
    }
    if streams == 0 || flow.once {
        next.once_done = true;
    }
    next.batches = batch + 1;
    let stamp = CommitStamp {
        app_transaction: Some((app, batch)),
        domains: vec![next.to_domain(&p.name, &flow.name)],
    };
    let dataset = p.datasets.get(&flow.target);
    let expectations = dataset.map(|d| d.expectations.as_slice()).unwrap_or(&[]);
    let target_name = flow.target.to_string();
    let mut report = BatchReport {
        batch,
        sources,
        ..BatchReport::default()
    };
    let outcome = match &flow.plan {
        FlowPlan::Append(q) | FlowPlan::Recompute(q) => {
            q.prepare(session.context()).await?;
            let checked =
                run_checked(&session, &q.sql, expectations, &target_name, &flow.name).await?;
            counts.extend(checked.counts.clone());
            report.rows_in = checked.rows_in;
            report.rows_out = checked.batches.iter().map(|b| b.num_rows() as u64).sum();
            let mode = match flow.plan {
                FlowPlan::Recompute(_) => tables::CommitMode::Overwrite,
                _ => tables::CommitMode::Append,
            };
            let snapshot = match target {
                Some(s) => s,
                None => tables::ensure(&uri, &p.storage_options, &checked.schema, dataset).await?,
            };
            match tables::commit_rows(snapshot, &flow.name, checked.batches, stamp, mode).await? {
                CommitOutcome::Committed(c) => {
                    report.post_commit_error = c.post_commit_error;
                    Ok(c.version)
                }
                CommitOutcome::AlreadyApplied { .. } => Err(()),
                CommitOutcome::Conflict(conflict) => {
                    return Err(PipelineError::Log(LogError::Conflict {
                        table: uri,
                        conflict,
                    }));
                }
            }
        }
        FlowPlan::AutoCdc(spec, q) => {
            q.prepare(session.context()).await?;
            let checked = run_checked(&session, &q.sql, &[], &target_name, &flow.name).await?;
            report.rows_in = checked.rows_in;
            let applied = cdc::apply(p, flow, spec, &session, checked, target, &uri, stamp).await?;
            report.rows_out = applied.rows_changed;
            report.details = applied.details;
            report.post_commit_error = applied.post_commit_error;
            applied.version
        }
    };
    report.expectations = counts;
    Ok(match outcome {
        Ok(version) => {
            report.version = version;
            BatchOutcome::Committed(report)
        }
        Err(()) => BatchOutcome::Raced,
    })
}

/// `silt.stream.*` table properties of the flow's target: options of its
/// streaming Delta reads (`silt.stream.skipChangeCommits` …), which a read's
/// own `WITH (…)` overrides.
fn stream_options(p: &Pipeline, flow: &PlannedFlow) -> BTreeMap<String, String> {
    let mut given = BTreeMap::new();
    if let Some(d) = p.datasets.get(&flow.target) {
        for (k, v) in &d.properties {
            if let Some(option) = k.strip_prefix("silt.stream.") {
                given.insert(option.to_string(), v.clone());
            }
        }
    }
    given
}

/// A fingerprint of a file listing (paths, sizes, modification times).
fn files_fingerprint(files: &[silt_log::FileMeta]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        (&f.path, f.size, f.last_modified).hash(&mut h);
    }
    h.finish()
}

/// Registers a query's inputs in a session, reading what is new.
struct Inputs<'a> {
    p: &'a Pipeline,
    flow: &'a str,
    /// The target's `silt.stream.*` options.
    stream_options: BTreeMap<String, String>,
    settings: &'a BatchSettings,
    before: &'a FlowProgress,
    next: FlowProgress,
    streams: usize,
    advanced: bool,
    waiting: Option<String>,
    counts: Vec<ExpectationCount>,
    sources: BTreeMap<String, serde_json::Value>,
    /// A materialized view's landing files read whole are left unread while
    /// they are unchanged (the view may then be skipped without reading
    /// them): set for recomputed flows that may be skipped.
    defer_unchanged: bool,
    /// Inside a temporary view being evaluated (its inputs are read now).
    in_view: usize,
    /// Unchanged landing inputs not read yet (see `read_deferred`).
    deferred: Vec<DeferredFiles>,
}

/// A landing directory read whole whose files did not change since the
/// last recompute: read only if another input changed.
struct DeferredFiles {
    placeholder: String,
    key: String,
    store: Arc<dyn LogStore>,
    uri: String,
    files: Vec<FileMeta>,
    options: FileOptions,
    uses_metadata: bool,
}

impl<'a> Inputs<'a> {
    /// Registers a landing input's rows under `placeholder` and reports
    /// what was read as the source `key`'s metrics.
    fn register_files(
        &mut self,
        session: &SiltSession,
        placeholder: &str,
        key: String,
        rows: crate::sources::SourceBatch,
    ) -> PipelineResult<()> {
        let mut m = rows.metrics.clone();
        m.insert("rows".into(), rows.rows().into());
        self.sources.insert(key, serde_json::Value::Object(m));
        register_rows(session, placeholder, rows.schema, rows.batches)
    }

    /// Reads and registers the landing inputs left unread by
    /// `defer_unchanged`.
    async fn read_deferred(&mut self, session: &SiltSession) -> PipelineResult<()> {
        for d in std::mem::take(&mut self.deferred) {
            let (rows, _) = read_files(
                d.store,
                &d.uri,
                d.files,
                &d.options,
                &FilesProgress::default(),
                d.uses_metadata,
                self.flow,
            )
            .await?;
            self.register_files(session, &d.placeholder, d.key, rows)?;
        }
        Ok(())
    }

    /// Applies `cleanSource` to landing files of earlier (committed)
    /// batches that are still below `path`.
    async fn clean_source(
        &self,
        path: &str,
        opts: &FileOptions,
        store: &dyn LogStore,
        ingested: &[&str],
    ) -> PipelineResult<()> {
        if opts.clean_source == CleanSource::Off || ingested.is_empty() {
            return Ok(());
        }
        let fail = |message: String, retryable: bool| PipelineError::Source {
            flow: self.flow.to_string(),
            source_name: path.to_string(),
            message,
            retryable,
        };
        let archive = match &opts.clean_source {
            CleanSource::Move(dir) => {
                let (from, to) = (self.p.source_uri(path), self.p.source_uri(dir));
                // Inside the landing directory, only a hidden directory is
                // not listed again.
                let listed_again = to
                    .strip_prefix(from.trim_end_matches('/'))
                    .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                    .is_some_and(|rest| {
                        !rest
                            .split('/')
                            .any(|p| p.starts_with('.') || p.starts_with('_'))
                    });
                if listed_again {
                    return Err(fail(
                        format!(
                            "sourceArchiveDir {dir} is inside the landing directory (its files would be read again); use a directory outside it or one whose name starts with '_'"
                        ),
                        false,
                    ));
                }
                Some(tables::store_for(&to, &self.p.storage_options)?)
            }
            _ => None,
        };
        clean_ingested(store, archive.as_deref(), ingested)
            .await
            .map_err(|e| fail(format!("cleanSource: {e}"), e.is_retryable()))
    }

    fn key(&self, source: &InputSource) -> String {
        match source {
            InputSource::Dataset(d) => self.p.qualify(d).to_string(),
            other => other.to_string(),
        }
    }

    fn register<'s>(
        &'s mut self,
        session: &'s SiltSession,
        query: &'s RewrittenQuery,
    ) -> BoxFuture<'s, PipelineResult<()>> {
        Box::pin(async move {
            for input in &query.inputs {
                if self.waiting.is_some() {
                    return Ok(());
                }
                let key = self.key(&input.source);
                match &input.source {
                    InputSource::Dataset(d) if self.p.views.contains_key(&self.p.qualify(d)) => {
                        let name = self.p.qualify(d);
                        let view = &self.p.views[&name];
                        self.in_view += 1;
                        let registered = self.register(session, view).await;
                        self.in_view -= 1;
                        registered?;
                        if self.waiting.is_some() {
                            return Ok(());
                        }
                        let expectations = self
                            .p
                            .datasets
                            .get(&name)
                            .map(|d| d.expectations.as_slice())
                            .unwrap_or(&[]);
                        view.prepare(session.context()).await?;
                        let checked =
                            run_checked(session, &view.sql, expectations, &key, self.flow).await?;
                        self.counts.extend(checked.counts);
                        register_rows(
                            session,
                            &input.placeholder,
                            checked.schema,
                            checked.batches,
                        )?;
                    }
                    InputSource::Dataset(_) | InputSource::Path(_) => {
                        let uri = match &input.source {
                            InputSource::Dataset(d) => self.p.dataset_uri(d),
                            InputSource::Path(u) => u.clone(),
                            InputSource::Files { .. } => unreachable!("matched above"),
                        };
                        let Some(snapshot) = tables::load(&uri, &self.p.storage_options).await?
                        else {
                            self.waiting = Some(format!("waiting for {key}: it has no table yet"));
                            return Ok(());
                        };
                        if input.streaming {
                            self.streams += 1;
                            let consumed = self.before.delta.get(&key).copied();
                            // Names are case-insensitive: the read's own
                            // options replace the target's.
                            let given: BTreeMap<String, String> = self
                                .stream_options
                                .iter()
                                .chain(&input.options)
                                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                                .collect();
                            let options = DeltaStreamOptions::parse(&given).map_err(|m| {
                                PipelineError::Analysis {
                                    at: query.original.at.clone(),
                                    message: format!("reading {key}: {}", m.0),
                                }
                            })?;
                            let b = next_batch(&snapshot, consumed, &options, self.flow).await?;
                            self.advanced |= b.advanced;
                            self.next.delta.insert(key.clone(), b.version);
                            self.sources
                                .insert(key, serde_json::Value::Object(b.batch.metrics.clone()));
                            match b.files {
                                Some(files) => {
                                    let table = silt_sql::DeltaTable::of_files(snapshot, files)
                                        .map_err(silt_sql::SqlError::from)?;
                                    register_table(session, &input.placeholder, Arc::new(table))?;
                                }
                                None => register_rows(
                                    session,
                                    &input.placeholder,
                                    b.batch.schema,
                                    b.batch.batches,
                                )?,
                            }
                        } else {
                            self.next.upstream.insert(key.clone(), snapshot.version());
                            self.sources
                                .insert(key, serde_json::json!({ "version": snapshot.version() }));
                            let table = silt_sql::DeltaTable::new(snapshot, false)
                                .map_err(silt_sql::SqlError::from)?;
                            register_table(session, &input.placeholder, Arc::new(table))?;
                        }
                    }
                    InputSource::Files { path, options } => {
                        let mut opts =
                            FileOptions::parse(options).map_err(|m| PipelineError::Analysis {
                                at: query.original.at.clone(),
                                message: m.0,
                            })?;
                        if !options
                            .keys()
                            .any(|k| k.to_ascii_lowercase().ends_with("minfileagems"))
                            && let Some(age) = self.settings.min_file_age_ms
                        {
                            opts.min_file_age_ms = age;
                        }
                        let store =
                            tables::store_for(&self.p.source_uri(path), &self.p.storage_options)?;
                        let now = chrono::Utc::now().timestamp_millis();
                        let list_err = |e: silt_log::StorageError| PipelineError::Source {
                            flow: self.flow.to_string(),
                            source_name: path.clone(),
                            message: format!("listing: {e}"),
                            retryable: e.is_retryable(),
                        };
                        let (before, pending, held_back_ms, listing) = if input.streaming {
                            self.streams += 1;
                            let before = self.before.files.get(&key).cloned().unwrap_or_default();
                            // The files of the batch before (committed, or
                            // the flow would have stopped) leave the
                            // directory first.
                            let ingested: Vec<&str> =
                                before.files.keys().map(String::as_str).collect();
                            self.clean_source(path, &opts, store.as_ref(), &ingested)
                                .await?;
                            let listed_as = format!("{}\u{0}{key}", self.flow);
                            let kind = listing_kind(
                                &before,
                                &opts,
                                now,
                                self.settings.full_listings.last(&listed_as),
                            );
                            let mut listing =
                                list_landing(store.as_ref(), &before, &opts, now, &kind)
                                    .await
                                    .map_err(list_err)?;
                            if listing.full {
                                self.settings.full_listings.note(&listed_as, now);
                            }
                            self.advanced |= !listing.batch.is_empty();
                            let held_back_ms = listing.held_back_ms;
                            let batch = std::mem::take(&mut listing.batch);
                            (before, batch, held_back_ms, Some(listing))
                        } else {
                            let before = FilesProgress::default();
                            let pending = pending_files(store.as_ref(), &before, &opts, now)
                                .await
                                .map_err(list_err)?;
                            // Read whole: a materialized view is recomputed
                            // when the files change.
                            let fingerprint = files_fingerprint(&pending);
                            self.next.upstream.insert(key.clone(), fingerprint);
                            if self.defer_unchanged
                                && self.in_view == 0
                                && self.before.upstream.get(&key) == Some(&fingerprint)
                            {
                                self.deferred.push(DeferredFiles {
                                    placeholder: input.placeholder.clone(),
                                    key,
                                    store,
                                    uri: self.p.source_uri(path),
                                    files: pending,
                                    options: opts,
                                    uses_metadata: query.uses_metadata,
                                });
                                continue;
                            }
                            (before, pending, None, None)
                        };
                        let read: BTreeSet<String> =
                            pending.iter().map(|f| f.path.clone()).collect();
                        let (mut rows, after) = read_files(
                            store,
                            &self.p.source_uri(path),
                            pending,
                            &opts,
                            &before,
                            query.uses_metadata,
                            self.flow,
                        )
                        .await?;
                        if input.streaming {
                            let mut after = after;
                            if opts.clean_source != CleanSource::Off {
                                // Files of earlier batches are cleaned (or
                                // the flow failed above): they leave the
                                // progress.
                                after.files.retain(|p, _| read.contains(p));
                            }
                            after.forget_old(opts.max_file_age_ms, held_back_ms);
                            if let Some(listing) = listing {
                                let was_out_of_order = after.out_of_order;
                                after.note_listing(&listing, now);
                                if after.out_of_order && !was_out_of_order {
                                    tracing::warn!(
                                        flow = self.flow,
                                        source = path.as_str(),
                                        files = listing.out_of_order,
                                        "landing files arrived out of path order; with useIncrementalListing 'auto' the source is listed in full from now on"
                                    );
                                }
                                rows.metrics.insert(
                                    "listing".into(),
                                    serde_json::json!({
                                        "kind": if listing.full { "full" } else { "incremental" },
                                        "files_listed": listing.listed,
                                        "out_of_order_files": listing.out_of_order,
                                    }),
                                );
                            }
                            self.next.files.insert(key.clone(), after);
                        }
                        self.register_files(session, &input.placeholder, key, rows)?;
                    }
                }
            }
            Ok(())
        })
    }
}
