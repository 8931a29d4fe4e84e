//! Which landing files are new. A full listing walks the whole directory
//! tree; an incremental one (`useIncrementalListing`, on by default) walks
//! one directory at a time and only the part of the tree that sorts after
//! the source's watermark — the path at or before which every file has been
//! ingested — so its cost follows the files still to come and the
//! directories on the watermark's path, not the files already read. Paths
//! compare component by component, digit runs as numbers (`round-10`
//! after `round-9`, `day=2` before `day=10`).
//!
//! Files that land out of that order (a late file in an old directory, or
//! names with no order such as UUIDs) are what an incremental listing
//! cannot see. `auto` therefore lists in full until full listings have
//! seen newly landed files arrive after the watermark
//! [`AUTO_CONFIRMATIONS`] times in a row (files found while a backlog is
//! still being read do not count), then incrementally, with a full
//! listing every `backfillInterval` (a day unless set); a full listing
//! that finds a new file at or before the watermark turns incremental
//! listing off for the source for good, so such a file is late by at most
//! one interval and never lost. `true` trusts the order from the start
//! (full listings only at `backfillInterval`, if set); `false` always
//! lists in full, as does a source with `cleanSource`, whose directory
//! holds only files not read yet.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use silt_log::{FileMeta, LogStore, StorageError};

use super::files::{CleanSource, FileOptions, FilesProgress};

/// `useIncrementalListing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncrementalListing {
    /// Incremental, with full listings that check the order (the default).
    Auto,
    /// Incremental; full listings only at `backfillInterval`.
    On,
    /// Always a full listing.
    Off,
}

/// How often `auto` lists in full unless `backfillInterval` says: a day.
pub const DEFAULT_AUTO_BACKFILL_MS: i64 = 86_400_000;

/// Full listings in a row that must find newly landed files in path order
/// before `auto` lists incrementally.
pub const AUTO_CONFIRMATIONS: u32 = 3;

/// One path component's sort key: runs of digits compare as numbers.
type NameKey = Vec<(u8, u128, String)>;

fn name_key(name: &str) -> NameKey {
    let mut out = Vec::new();
    let mut chars = name.chars().peekable();
    while let Some(&c) = chars.peek() {
        let mut run = String::new();
        let digits = c.is_ascii_digit();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() != digits {
                break;
            }
            run.push(d);
            chars.next();
        }
        if digits {
            out.push((0, run.parse().unwrap_or(u128::MAX), run));
        } else {
            out.push((1, 0, run));
        }
    }
    out
}

/// A path's sort key: its components' keys in order (a directory sorts
/// before everything in it, and a path after its own prefixes).
pub fn path_key(path: &str) -> Vec<NameKey> {
    path.split('/').map(name_key).collect()
}

/// Names starting with `.` or `_` (and everything below them) are not
/// landing files.
fn hidden(name: &str) -> bool {
    name.starts_with(['.', '_'])
}

fn last_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Which listing a batch makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingKind {
    /// Every file below the source directory.
    Full,
    /// Only files sorting after this path.
    After(String),
}

/// The rule: a full listing without a watermark, with `cleanSource`, when
/// incremental listing is off, for `auto` until files were seen landing in
/// order (and for good once they were not), or when a backfill is due
/// (`last_full_ms`: this process's last full listing of the source).
pub fn listing_kind(
    progress: &FilesProgress,
    options: &FileOptions,
    now_ms: i64,
    last_full_ms: Option<i64>,
) -> ListingKind {
    let Some(watermark) = &progress.watermark else {
        return ListingKind::Full;
    };
    if options.clean_source != CleanSource::Off {
        // Ingested files leave the directory: a full listing already
        // costs only what is new, and files may land in any order.
        return ListingKind::Full;
    }
    let interval = match options.incremental_listing {
        IncrementalListing::Off => return ListingKind::Full,
        IncrementalListing::Auto
            if progress.out_of_order || progress.in_order < AUTO_CONFIRMATIONS =>
        {
            return ListingKind::Full;
        }
        IncrementalListing::Auto => Some(
            options
                .backfill_interval_ms
                .unwrap_or(DEFAULT_AUTO_BACKFILL_MS),
        ),
        IncrementalListing::On => options.backfill_interval_ms,
    };
    if let Some(interval) = interval {
        let last = progress.full_listed_ms.max(last_full_ms);
        if last.is_none_or(|l| now_ms.saturating_sub(l) >= interval) {
            return ListingKind::Full;
        }
    }
    ListingKind::After(watermark.clone())
}

/// A landing directory as listed for one batch.
#[derive(Debug, Default)]
pub struct Listing {
    /// The batch: the first `maxFilesPerTrigger` files not ingested yet,
    /// in path order.
    pub batch: Vec<FileMeta>,
    /// The oldest modification time of the new files left for later
    /// batches (`maxFilesPerTrigger`).
    pub held_back_ms: Option<i64>,
    /// The watermark once the batch commits.
    pub watermark: Option<String>,
    /// Whether this was a full listing.
    pub full: bool,
    /// New files a full listing found at or before the watermark (out of
    /// the order an incremental listing relies on).
    pub out_of_order: usize,
    /// Files listed (after the name filters).
    pub listed: usize,
    /// Files in the batch.
    pub taken: usize,
    /// No new file is left unread behind the batch (held back or too
    /// young).
    pub drained: bool,
}

impl FilesProgress {
    /// Records what a committed batch's listing showed: the watermark, the
    /// full listing's time, and (full listings) whether newly landed files
    /// came in path order.
    pub fn note_listing(&mut self, listing: &Listing, now_ms: i64) {
        if listing.full {
            self.full_listed_ms = Some(now_ms);
            if listing.out_of_order > 0 {
                self.out_of_order = true;
            } else if self.drained && self.watermark.is_some() && listing.taken > 0 {
                self.in_order = self.in_order.saturating_add(1);
            }
        }
        self.watermark = listing.watermark.clone();
        self.drained = listing.drained;
    }
}

/// Lists the landing files below `store`'s root (hidden names, those
/// starting with `.` or `_`, excluded) as `kind` says, and picks the batch.
pub async fn list_landing(
    store: &dyn LogStore,
    progress: &FilesProgress,
    options: &FileOptions,
    now_ms: i64,
    kind: &ListingKind,
) -> Result<Listing, StorageError> {
    let mut all = match kind {
        ListingKind::Full => store.list_recursive("").await?,
        ListingKind::After(after) => walk_after(store, after).await?,
    };
    all.retain(|f| {
        let name = last_name(&f.path);
        !f.path.split('/').any(hidden)
            && options
                .suffix
                .as_ref()
                .is_none_or(|s| name.ends_with(s.as_str()))
            && !name.is_empty()
    });
    all.sort_by_cached_key(|f| path_key(&f.path));
    // New files: not ingested, not older than the cutoff. The first of
    // them still too young to read caps the batch and the watermark.
    let mut pending = Vec::new();
    let mut young_from: Option<usize> = None;
    for (i, f) in all.iter().enumerate() {
        if progress.files.contains_key(&f.path)
            || progress.cutoff_ms.is_some_and(|c| f.last_modified < c)
        {
            continue;
        }
        if now_ms - f.last_modified < options.min_file_age_ms {
            young_from.get_or_insert(i);
            continue;
        }
        pending.push(i);
    }
    let out_of_order = match (&progress.watermark, kind) {
        (Some(w), ListingKind::Full) => {
            let w = path_key(w);
            pending
                .iter()
                .filter(|i| path_key(&all[**i].path) <= w)
                .count()
        }
        _ => 0,
    };
    let take = options.max_files_per_trigger.min(pending.len());
    let held_back = &pending[take..];
    let held_back_ms = held_back.iter().map(|i| all[*i].last_modified).min();
    // Everything listed before the first file left unread is done
    // (ingested now or before, or ignored as too old).
    let cap = match (held_back.first(), young_from) {
        (Some(h), Some(y)) => Some((*h).min(y)),
        (h, y) => h.copied().or(y),
    };
    let done = &all[..cap.unwrap_or(all.len())];
    let listed_done = done.last().map(|f| f.path.clone());
    let watermark = match kind {
        // A full listing sees every file: the watermark may move back
        // (to below a file that arrived out of order).
        ListingKind::Full => listed_done,
        ListingKind::After(after) => Some(listed_done.unwrap_or_else(|| after.clone())),
    };
    let listed = all.len();
    let batch: Vec<FileMeta> = pending[..take].iter().map(|i| all[*i].clone()).collect();
    Ok(Listing {
        batch,
        held_back_ms,
        watermark,
        full: *kind == ListingKind::Full,
        out_of_order,
        listed,
        taken: take,
        drained: cap.is_none(),
    })
}

/// The files not ingested yet by `progress`, from a full listing, in path
/// order (all of them, not one batch).
pub async fn pending_files(
    store: &dyn LogStore,
    progress: &FilesProgress,
    options: &FileOptions,
    now_ms: i64,
) -> Result<Vec<FileMeta>, StorageError> {
    let everything = FileOptions {
        max_files_per_trigger: usize::MAX,
        ..options.clone()
    };
    Ok(
        list_landing(store, progress, &everything, now_ms, &ListingKind::Full)
            .await?
            .batch,
    )
}

/// The files sorting after `after`, listed one directory at a time: each
/// directory on `after`'s path is listed (its files and subdirectories),
/// a subdirectory sorting after `after`'s component at that depth is taken
/// whole, one sorting before it is skipped without being listed.
async fn walk_after(store: &dyn LogStore, after: &str) -> Result<Vec<FileMeta>, StorageError> {
    let bound: Vec<NameKey> = path_key(after);
    let mut out = Vec::new();
    // (directory, depth of its entries in `bound`)
    let mut stack = vec![(String::new(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        // In bounds: `bound` has a component per level of `after` (at least
        // one), and a directory is pushed only for a level below it.
        let component = &bound[depth];
        let entries = store.list_dir(&dir).await?;
        out.extend(
            entries
                .files
                .into_iter()
                .filter(|f| name_key(last_name(&f.path)) > *component),
        );
        for sub in entries.dirs {
            if hidden(last_name(&sub)) {
                continue; // like the files below it
            }
            match name_key(last_name(&sub)).cmp(component) {
                Ordering::Less => {}
                // On `after`'s path: only what follows it below.
                Ordering::Equal if depth + 1 < bound.len() => stack.push((sub, depth + 1)),
                // A directory named as `after`'s file sorts after it.
                Ordering::Equal | Ordering::Greater => {
                    out.extend(store.list_recursive(&sub).await?)
                }
            }
        }
    }
    Ok(out)
}

/// When this process last listed each landing source in full, so a
/// backfill listing that found nothing to commit is not repeated at every
/// trigger.
#[derive(Debug, Clone, Default)]
pub struct FullListings(Arc<Mutex<BTreeMap<String, i64>>>);

impl FullListings {
    /// The last full listing of `source`.
    pub fn last(&self, source: &str) -> Option<i64> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(source)
            .copied()
    }

    /// Notes a full listing of `source` at `now_ms`.
    pub fn note(&self, source: &str, now_ms: i64) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(source.to_string(), now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use silt_testkit::MemoryLogStore;
    use std::collections::BTreeSet;

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(f)
    }

    fn hidden_path(path: &str) -> bool {
        path.split('/').any(hidden)
    }

    fn compare(a: &str, b: &str) -> Ordering {
        path_key(a).cmp(&path_key(b))
    }

    fn options(mode: IncrementalListing, max_files: usize) -> FileOptions {
        let mut o = FileOptions::parse(&BTreeMap::from([("format".into(), "json".into())]))
            .expect("valid options");
        o.incremental_listing = mode;
        o.max_files_per_trigger = max_files;
        o.max_file_age_ms = None;
        o.backfill_interval_ms = match mode {
            IncrementalListing::On => Some(1_000_000),
            _ => None,
        };
        o
    }

    #[test]
    fn natural_order_puts_round_10_after_round_9() {
        let mut v = vec!["round-10/a", "round-9/b", "round-9/a", "round-9", "round"];
        v.sort_by_key(|p| path_key(p));
        assert_eq!(
            v,
            vec!["round", "round-9", "round-9/a", "round-9/b", "round-10/a"]
        );
    }

    #[test]
    fn an_incremental_listing_reads_only_the_directories_on_the_watermarks_path() {
        let store = CountingStore::default();
        for r in 0..20 {
            for f in 0..50 {
                store
                    .inner
                    .put_at(&format!("round-{r}/part-{f}.json"), "{}", 0);
            }
        }
        let files = block_on(walk_after(&store, "round-19/part-49.json")).unwrap();
        assert!(files.is_empty());
        // The root and round-19: two one-level listings, nothing recursive.
        assert_eq!(store.calls(), (2, 0));
        store.inner.put_at("round-20/part-0.json", "{}", 0);
        store.inner.put_at("round-19/part-50.json", "{}", 0);
        let files = block_on(walk_after(&store, "round-19/part-49.json")).unwrap();
        let mut paths: Vec<_> = files.into_iter().map(|f| f.path).collect();
        paths.sort();
        assert_eq!(paths, vec!["round-19/part-50.json", "round-20/part-0.json"]);
    }

    #[test]
    fn auto_lists_incrementally_until_a_backfill_finds_a_late_file() {
        let store = MemoryLogStore::new("landing");
        let opts = options(IncrementalListing::Auto, 100);
        let mut progress = FilesProgress::default();
        let run = |progress: &mut FilesProgress, now: i64| {
            let kind = listing_kind(progress, &opts, now, None);
            let listing = block_on(list_landing(&store, progress, &opts, now, &kind)).unwrap();
            for f in &listing.batch {
                progress.files.insert(f.path.clone(), f.last_modified);
            }
            if !listing.batch.is_empty() {
                progress.note_listing(&listing, now);
            }
            (kind, listing)
        };
        store.put_at("round-9/a.json", "{}", 0);
        let (kind, l) = run(&mut progress, 0);
        assert_eq!((kind, l.batch.len()), (ListingKind::Full, 1));
        assert_eq!(progress.watermark.as_deref(), Some("round-9/a.json"));
        // Full listings until files have landed in order three times.
        for r in 10..13 {
            store.put_at(&format!("round-{r}/a.json"), "{}", r);
            let (kind, _) = run(&mut progress, r);
            assert_eq!(kind, ListingKind::Full);
        }
        assert_eq!(progress.in_order, AUTO_CONFIRMATIONS);
        store.put_at("round-13/a.json", "{}", 13);
        let (kind, l) = run(&mut progress, 13);
        assert_eq!(kind, ListingKind::After("round-12/a.json".into()));
        assert_eq!(l.batch[0].path, "round-13/a.json");
        // A late file in an old directory: not seen incrementally...
        store.put_at("round-9/b.json", "{}", 2);
        let (kind, l) = run(&mut progress, 14);
        assert!(matches!(kind, ListingKind::After(_)) && l.batch.is_empty());
        // ...until the backfill, which ingests it and turns `auto` off.
        let later = 100 + DEFAULT_AUTO_BACKFILL_MS;
        let (kind, l) = run(&mut progress, later);
        assert_eq!(kind, ListingKind::Full);
        assert_eq!(
            (l.batch[0].path.as_str(), l.out_of_order),
            ("round-9/b.json", 1)
        );
        assert!(progress.out_of_order);
        assert_eq!(
            listing_kind(&progress, &opts, later + 1, Some(later)),
            ListingKind::Full
        );
        // `true` keeps listing incrementally.
        let on = options(IncrementalListing::On, 100);
        assert!(matches!(
            listing_kind(&progress, &on, later + 1, Some(later)),
            ListingKind::After(_)
        ));
    }

    #[test]
    fn auto_never_lists_incrementally_names_that_land_in_no_order() {
        let store = MemoryLogStore::new("landing");
        let opts = options(IncrementalListing::Auto, 100);
        let mut progress = FilesProgress::default();
        // A backlog read in small batches confirms nothing.
        let small = options(IncrementalListing::Auto, 2);
        for name in ["a", "b", "c", "d", "e", "f", "g"] {
            store.put_at(&format!("{name}.json"), "{}", 0);
        }
        for t in 0..4 {
            let kind = listing_kind(&progress, &small, t, None);
            assert_eq!(kind, ListingKind::Full);
            let l = block_on(list_landing(&store, &progress, &small, t, &kind)).unwrap();
            for f in &l.batch {
                progress.files.insert(f.path.clone(), 0);
            }
            progress.note_listing(&l, t);
        }
        assert_eq!(progress.in_order, 0);
        // Names with no order: the first one below the watermark turns
        // incremental listing off, and is read at once.
        for (t, name) in [(10, "x"), (11, "y"), (12, "c2")] {
            store.put_at(&format!("{name}.json"), "{}", t);
            let kind = listing_kind(&progress, &opts, t, None);
            assert_eq!(kind, ListingKind::Full);
            let l = block_on(list_landing(&store, &progress, &opts, t, &kind)).unwrap();
            assert_eq!(l.batch[0].path, format!("{name}.json"));
            for f in &l.batch {
                progress.files.insert(f.path.clone(), t);
            }
            progress.note_listing(&l, t);
        }
        assert!(progress.out_of_order);
        assert_eq!(listing_kind(&progress, &opts, 13, None), ListingKind::Full);
    }

    #[test]
    fn a_file_too_young_to_read_holds_the_watermark_back() {
        let store = MemoryLogStore::new("landing");
        let mut opts = options(IncrementalListing::On, 100);
        opts.min_file_age_ms = 1000;
        store.put_at("a/1.json", "{}", 0);
        store.put_at("a/2.json", "{}", 5_000); // still being written at 5,500
        store.put_at("a/3.json", "{}", 0);
        let l = block_on(list_landing(
            &store,
            &FilesProgress::default(),
            &opts,
            5_500,
            &ListingKind::Full,
        ))
        .unwrap();
        let batch: Vec<&str> = l.batch.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(batch, vec!["a/1.json", "a/3.json"]);
        assert_eq!(l.watermark.as_deref(), Some("a/1.json"));
    }

    /// A store counting one-level and recursive listings.
    #[derive(Debug)]
    struct CountingStore {
        inner: MemoryLogStore,
        dir_listings: std::sync::atomic::AtomicUsize,
        recursive_listings: std::sync::atomic::AtomicUsize,
    }

    impl Default for CountingStore {
        fn default() -> Self {
            Self {
                inner: MemoryLogStore::new("counting"),
                dir_listings: Default::default(),
                recursive_listings: Default::default(),
            }
        }
    }

    impl CountingStore {
        fn calls(&self) -> (usize, usize) {
            use std::sync::atomic::Ordering::SeqCst;
            (
                self.dir_listings.swap(0, SeqCst),
                self.recursive_listings.swap(0, SeqCst),
            )
        }
    }

    #[async_trait::async_trait]
    impl LogStore for CountingStore {
        fn location(&self) -> &str {
            "counting"
        }
        async fn list(
            &self,
            dir: &str,
            start_after: Option<&str>,
        ) -> Result<Vec<FileMeta>, StorageError> {
            self.inner.list(dir, start_after).await
        }
        async fn read(&self, path: &str) -> Result<bytes::Bytes, StorageError> {
            self.inner.read(path).await
        }
        async fn put_if_absent(&self, path: &str, data: bytes::Bytes) -> Result<(), StorageError> {
            self.inner.put_if_absent(path, data).await
        }
        async fn list_recursive(&self, dir: &str) -> Result<Vec<FileMeta>, StorageError> {
            self.recursive_listings
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.list_recursive(dir).await
        }
        async fn list_dir(&self, dir: &str) -> Result<silt_log::DirEntries, StorageError> {
            self.dir_listings
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let all = self.inner.list_recursive(dir).await?;
            Ok(silt_log::DirEntries::from_recursive(dir, all))
        }
        async fn put(&self, path: &str, data: bytes::Bytes) -> Result<(), StorageError> {
            LogStore::put(&self.inner, path, data).await
        }
        async fn delete(&self, path: &str) -> Result<(), StorageError> {
            LogStore::delete(&self.inner, path).await
        }
    }

    fn path() -> impl Strategy<Value = String> {
        let component = prop_oneof![
            Just("a"),
            Just("b"),
            Just("round-1"),
            Just("round-2"),
            Just("round-10"),
            Just("day=2"),
            Just("_tmp"),
            Just(".hidden"),
        ];
        (proptest::collection::vec(component, 0..3), 0u8..12).prop_map(|(dirs, f)| {
            let mut p: Vec<String> = dirs.into_iter().map(str::to_string).collect();
            p.push(format!("f{f}.json"));
            p.join("/")
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Walking after a path finds exactly the files a full listing
        /// finds sorting after it.
        #[test]
        fn a_walk_after_a_path_finds_what_sorts_after_it(
            paths in proptest::collection::btree_set(path(), 0..40),
            after in path(),
        ) {
            let store = MemoryLogStore::new("landing");
            for p in &paths {
                store.put_at(p, "{}", 0);
            }
            let mut walked: Vec<String> = block_on(walk_after(&store, &after))
                .unwrap()
                .into_iter()
                .map(|f| f.path)
                .filter(|p| !hidden_path(p))
                .collect();
            walked.sort();
            let expected: Vec<String> = paths
                .iter()
                .filter(|p| !hidden_path(p) && compare(p, &after) == Ordering::Greater)
                .cloned()
                .collect();
            prop_assert_eq!(walked, expected);
        }

        /// Files landing in any order over any run of batches, listed as
        /// each mode says: every file is ingested exactly once by the time
        /// the source is drained (a late file at most one backfill late),
        /// and `auto` turns itself off only after files came out of order.
        #[test]
        fn every_landed_file_is_ingested_exactly_once(
            rounds in proptest::collection::vec(
                (proptest::collection::vec(path(), 0..8), 1usize..5),
                1..10,
            ),
            mode in prop_oneof![
                Just(IncrementalListing::Auto),
                Just(IncrementalListing::On),
                Just(IncrementalListing::Off),
            ],
        ) {
            let store = MemoryLogStore::new("landing");
            let mut progress = FilesProgress::default();
            let mut ingested: Vec<String> = Vec::new();
            let mut landed: BTreeSet<String> = BTreeSet::new();
            let mut in_order = true;
            let batch = |progress: &mut FilesProgress,
                         ingested: &mut Vec<String>,
                         opts: &FileOptions,
                         now: i64| {
                let kind = listing_kind(progress, opts, now, None);
                let listing =
                    block_on(list_landing(&store, progress, opts, now, &kind)).unwrap();
                for f in &listing.batch {
                    progress.files.insert(f.path.clone(), f.last_modified);
                    ingested.push(f.path.clone());
                }
                if listing.batch.is_empty() {
                    return false;
                }
                progress.note_listing(&listing, now);
                true
            };
            for (t, (new, max_files)) in rounds.iter().enumerate() {
                let now = t as i64 * 1000;
                for p in new {
                    if landed.insert(p.clone()) {
                        if let Some(w) = &progress.watermark
                            && compare(p, w) != Ordering::Greater
                            && !hidden_path(p)
                        {
                            in_order = false;
                        }
                        store.put_at(p, "{}", now);
                    }
                }
                batch(&mut progress, &mut ingested, &options(mode, *max_files), now);
            }
            // Drain, a backfill later.
            let opts = options(mode, 3);
            let mut now = 100_000_000;
            while batch(&mut progress, &mut ingested, &opts, now) {
                now += 1;
            }
            let unique: BTreeSet<String> = ingested.iter().cloned().collect();
            prop_assert_eq!(unique.len(), ingested.len(), "a file ingested twice: {:?}", ingested);
            let expected: BTreeSet<String> =
                landed.iter().filter(|p| !hidden_path(p)).cloned().collect();
            prop_assert_eq!(unique, expected);
            if in_order {
                prop_assert!(!progress.out_of_order);
            }
        }
    }
}
