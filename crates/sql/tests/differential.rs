//! Differential test of silt's SQL against DuckDB, an independent engine
//! with MERGE INTO (Python `duckdb`, installed by scripts/test.sh).
//!
//! A seeded generator builds tables of every common type (integers,
//! decimals, dates, timestamps, doubles, booleans, strings with NULLs and
//! empty strings) in several files, partitioned or not, with deletion
//! vectors and column mapping on or off, then runs random statements on
//! both engines: SELECT with pruning filters, INSERT, CREATE TABLE AS,
//! UPDATE and DELETE with subqueries, MERGE with every clause kind over
//! sources of every shape. After each statement the whole target table is
//! compared, and DML counts are checked against DuckDB's. silt refuses a
//! MERGE whose source matches one target row twice where DuckDB picks a
//! row; such a refusal is checked against DuckDB's own count of those
//! target rows. Statements silt does not support are counted and listed.
//!
//! `SILT_DIFF_SEED` replays a seed; `SILT_DIFF_STATEMENTS` sets the run's
//! length (default 2,000). Every seed that failed once is a case in
//! `REGRESSION_SEEDS`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod differential {
    pub mod canon;
    pub mod generator;
}

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use differential::generator::{self as generate, Layout, Rng, Statement};
use serde_json::{Value, json};
use silt_sql::SiltSession;

/// Seeds that once failed, replayed on every run (a short case each).
const REGRESSION_SEEDS: &[u64] = &[
    // CREATE TABLE AS over an empty result had no batch to take its schema from.
    13_757_245_211_066_428_519,
    // Two source rows deleting one target row: one deleted row (DuckDB's
    // RETURNING lists the delete twice; the oracle counts target rows).
    12_467_171_733_407_687_150,
];

/// Statements per case (each case starts from fresh tables).
const CASE_LENGTH: usize = 40;

struct Oracle {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

enum Answer {
    Rows(Vec<Vec<String>>),
    Error(String),
}

impl Oracle {
    fn start() -> Self {
        let python = std::env::var("SILT_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/differential/duckdb_oracle.py"
        );
        let ok = Command::new(&python)
            .args(["-c", "import duckdb"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "{python} cannot import duckdb: scripts/test.sh installs it (SILT_PYTHON names its venv)"
        );
        let mut child = Command::new(&python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the DuckDB oracle");
        let input = child.stdin.take().expect("oracle stdin");
        let output = BufReader::new(child.stdout.take().expect("oracle stdout"));
        Self {
            child,
            input,
            output,
        }
    }

    fn call(&mut self, request: Value) -> Answer {
        writeln!(self.input, "{request}").expect("write to the oracle");
        self.input.flush().expect("flush the oracle");
        let mut line = String::new();
        self.output.read_line(&mut line).expect("read the oracle");
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("oracle said {line:?}: {e}"));
        if v["ok"] == Value::Bool(true) {
            let rows = v["rows"]
                .as_array()
                .expect("rows")
                .iter()
                .map(|r| {
                    r.as_array()
                        .expect("row")
                        .iter()
                        .map(|x| x.as_str().expect("canonical value").to_string())
                        .collect()
                })
                .collect();
            Answer::Rows(rows)
        } else {
            Answer::Error(v["error"].as_str().unwrap_or("?").to_string())
        }
    }

    fn run(&mut self, sql: &str) -> Answer {
        self.call(json!({"op": "run", "sql": sql}))
    }

    fn query(&mut self, sql: &str) -> Vec<Vec<String>> {
        match self.call(json!({"op": "query", "sql": sql})) {
            Answer::Rows(r) => r,
            Answer::Error(e) => panic!("DuckDB refused {sql}: {e}"),
        }
    }

    fn finish(&mut self, commit: bool) {
        let op = if commit { "commit" } else { "rollback" };
        if let Answer::Error(e) = self.call(json!({"op": op})) {
            panic!("DuckDB {op}: {e}");
        }
    }
}

impl Drop for Oracle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a run saw.
#[derive(Default)]
struct Tally {
    statements: usize,
    by_kind: BTreeMap<String, usize>,
    /// silt refused a MERGE whose source matched a target row twice.
    duplicate_refusals: usize,
    /// Both engines refused.
    both_refused: usize,
    /// Statement kind → silt's error → count.
    unsupported: BTreeMap<String, BTreeMap<String, usize>>,
}

impl Tally {
    /// Counts a statement silt refused as unsupported, by kind and error.
    fn unsupported(&mut self, kind: &str, error: &str) {
        *self
            .unsupported
            .entry(kind.to_string())
            .or_default()
            .entry(error_kind(error))
            .or_default() += 1;
    }
}

fn unsupported_error(e: &str) -> bool {
    let e = e.to_lowercase();
    e.contains("not implemented")
        || e.contains("not supported")
        || e.contains("unsupported")
        || e.contains("parsererror")
}

/// An error without what varies between statements (the parser's line and
/// column), cut to 160 characters.
fn error_kind(e: &str) -> String {
    let e = e.split(" at Line: ").next().unwrap_or(e);
    e.chars().take(160).collect()
}

async fn silt_rows(s: &SiltSession, sql: &str) -> Result<Vec<Vec<String>>, String> {
    s.run(sql)
        .await
        .map(|b| differential::canon::rows(&b))
        .map_err(|e| e.to_string())
}

fn sorted(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.sort();
    rows
}

struct Case<'a> {
    seed: u64,
    layout: Layout,
    history: Vec<String>,
    oracle: &'a mut Oracle,
    session: SiltSession,
    dir: tempfile::TempDir,
}

impl Case<'_> {
    fn fail(&self, what: &str) -> ! {
        panic!(
            "differential failure, seed {} ({}):\n{what}\nstatements of this case, in order:\n{}",
            self.seed,
            self.layout.describe(),
            self.history.join(";\n")
        )
    }

    /// A statement the engines did not both run: silt refused what it does
    /// not support (counted; DuckDB's change, if any, rolled back), silt
    /// failed, DuckDB alone refused, or both refused.
    fn settle_refusal(
        &mut self,
        tally: &mut Tally,
        kind: &str,
        mine: Result<Vec<Vec<String>>, String>,
        theirs: Answer,
    ) {
        match (mine, theirs) {
            (Err(e), Answer::Rows(_)) => {
                self.oracle.finish(false);
                if !unsupported_error(&e) {
                    self.fail(&format!("silt failed: {e}"));
                }
                tally.unsupported(kind, &e);
            }
            (Ok(m), Answer::Error(e)) => {
                self.fail(&format!("only DuckDB refused ({e}); silt: {m:?}"))
            }
            (Err(_), Answer::Error(_)) => tally.both_refused += 1,
            (Ok(m), Answer::Rows(_)) => self.fail(&format!("unsettled success: {m:?}")),
        }
    }

    /// Both engines' whole target table, compared.
    async fn compare_table(&mut self, table: &str) {
        let mine = silt_rows(&self.session, &format!("SELECT * FROM {table}"))
            .await
            .unwrap_or_else(|e| self.fail(&format!("silt cannot read {table}: {e}")));
        let theirs = sorted(self.oracle.query(&format!("SELECT * FROM {table}")));
        if mine != theirs {
            let only_silt: Vec<_> = mine
                .iter()
                .filter(|r| !theirs.contains(r))
                .take(8)
                .collect();
            let only_duck: Vec<_> = theirs
                .iter()
                .filter(|r| !mine.contains(r))
                .take(8)
                .collect();
            self.fail(&format!(
                "table {table} differs: silt {} rows, DuckDB {} rows\nonly in silt: {only_silt:?}\nonly in DuckDB: {only_duck:?}",
                mine.len(),
                theirs.len()
            ));
        }
    }
}

/// The metrics row of a silt DML statement, by column name.
fn metrics(rows: &[Vec<String>], names: &[&str]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(r) = rows.first() {
        for (n, v) in names.iter().zip(r) {
            out.insert(n.to_string(), v.clone());
        }
    }
    out
}

const METRICS: [&str; 7] = silt_sql::METRIC_COLUMNS;

async fn run_case(seed: u64, length: usize, oracle: &mut Oracle, tally: &mut Tally) {
    let mut r = Rng::new(seed);
    let layout = Layout::random(&mut r);
    let dir = tempfile::tempdir().unwrap();
    let session = SiltSession::new();
    let partitions = *r.pick(&[1usize, 2, 3, 8]);
    session
        .run(&format!(
            "SET datafusion.execution.target_partitions = {partitions}"
        ))
        .await
        .unwrap();
    if let Answer::Error(e) = oracle.call(json!({"op": "reset"})) {
        panic!("DuckDB reset: {e}");
    }
    let mut case = Case {
        seed,
        layout: layout.clone(),
        history: vec![format!("-- target_partitions = {partitions}")],
        oracle,
        session,
        dir,
    };
    let columns: Vec<String> = generate::COLUMNS
        .iter()
        .map(|(n, t)| format!("{n} {t}"))
        .collect();
    let columns = columns.join(", ");
    let mut next_id = 0i64;
    for (name, layout) in [("t", layout.clone()), ("s", Layout::random(&mut r))] {
        let path = case.dir.path().join(name).to_string_lossy().to_string();
        let create = format!(
            "CREATE TABLE delta.'{path}' ({columns}){}",
            layout.clauses()
        );
        case.history.push(create.clone());
        case.session
            .run(&create)
            .await
            .unwrap_or_else(|e| case.fail(&format!("silt CREATE TABLE: {e}")));
        case.session.register(name, &path).await.unwrap();
        case.oracle
            .query(&format!("CREATE TABLE {name} ({columns})"));
        let files = if name == "t" {
            r.range(2, 4)
        } else {
            r.range(1, 2)
        };
        for _ in 0..files {
            let n = r.range(2, 8) as usize;
            let insert = generate::insert_values(&mut r, name, n, &mut next_id);
            case.history.push(insert.clone());
            case.session
                .run(&insert)
                .await
                .unwrap_or_else(|e| case.fail(&format!("silt initial insert: {e}")));
            case.oracle.query(&insert);
        }
    }
    case.compare_table("t").await;
    case.compare_table("s").await;

    for n in 0..length {
        let statement = generate::statement(&mut r, &mut next_id);
        tally.statements += 1;
        match statement {
            Statement::Select(sql) => {
                *tally.by_kind.entry("select".into()).or_default() += 1;
                case.history.push(sql.clone());
                let mine = silt_rows(&case.session, &sql).await;
                let theirs = case.oracle.call(json!({"op": "query", "sql": sql}));
                match (mine, theirs) {
                    (Ok(m), Answer::Rows(t)) if m == sorted(t.clone()) => {}
                    (Ok(m), Answer::Rows(t)) => case.fail(&format!(
                        "query results differ\nsilt:   {m:?}\nDuckDB: {:?}",
                        sorted(t)
                    )),
                    (mine, theirs) => case.settle_refusal(tally, "select", mine, theirs),
                }
            }
            Statement::CreateAs(template) => {
                *tally.by_kind.entry("create_as".into()).or_default() += 1;
                let path = case
                    .dir
                    .path()
                    .join(format!("c{n}"))
                    .to_string_lossy()
                    .to_string();
                let mine_sql = template.replace("{c}", &format!("delta.'{path}'"));
                let theirs_sql = template.replace("{c}", &format!("c{n}"));
                case.history.push(mine_sql.clone());
                let mine = case
                    .session
                    .run(&mine_sql)
                    .await
                    .map(|_| Vec::new())
                    .map_err(|e| e.to_string());
                let theirs = case.oracle.run(&theirs_sql);
                match (mine, theirs) {
                    (Ok(_), Answer::Rows(_)) => {
                        case.oracle.finish(true);
                        let a = silt_rows(&case.session, &format!("SELECT * FROM delta.'{path}'"))
                            .await
                            .unwrap_or_else(|e| case.fail(&format!("silt reads its CTAS: {e}")));
                        let b = sorted(case.oracle.query(&format!("SELECT * FROM c{n}")));
                        if a != b {
                            case.fail(&format!(
                                "CREATE TABLE AS differs\nsilt:   {a:?}\nDuckDB: {b:?}"
                            ));
                        }
                    }
                    (mine, theirs) => case.settle_refusal(tally, "create_as", mine, theirs),
                }
            }
            Statement::Write { kind, sql } => {
                *tally.by_kind.entry(kind.into()).or_default() += 1;
                case.history.push(sql.clone());
                let mine = silt_rows(&case.session, &sql).await;
                let theirs = case.oracle.run(&sql);
                match (mine, theirs) {
                    (Ok(m), Answer::Rows(t)) => {
                        case.oracle.finish(true);
                        let duck_count = t
                            .first()
                            .and_then(|r| r.first())
                            .cloned()
                            .unwrap_or_default();
                        let silt_count = m
                            .first()
                            .and_then(|r| r.first())
                            .cloned()
                            .unwrap_or_default();
                        if duck_count != silt_count {
                            case.fail(&format!(
                                "{kind} counts differ: silt {silt_count} ({m:?}), DuckDB {duck_count}"
                            ));
                        }
                        if kind != "insert" {
                            let got = metrics(&m, &METRICS);
                            let field = if kind.starts_with("update") {
                                "num_updated_rows"
                            } else {
                                "num_deleted_rows"
                            };
                            if got.get(field) != Some(&duck_count) {
                                case.fail(&format!("{kind}: {field} is not {duck_count}: {got:?}"));
                            }
                        }
                    }
                    (mine, theirs) => case.settle_refusal(tally, kind, mine, theirs),
                }
            }
            Statement::Merge(merge) => {
                *tally
                    .by_kind
                    .entry(format!("merge_{}", merge.shape))
                    .or_default() += 1;
                case.history.push(merge.sql.clone());
                let duplicates: u64 = match merge.duplicate_query() {
                    Some(q) => case.oracle.query(&q).len() as u64,
                    None => 0,
                };
                let before: u64 = case.oracle.query("SELECT count(*) FROM t")[0][0]
                    .parse()
                    .expect("a count");
                let mine = silt_rows(&case.session, &merge.sql).await;
                let theirs = case
                    .oracle
                    .run(&format!("{} RETURNING merge_action", merge.sql));
                // DuckDB returns a DELETE per matching source row; silt counts
                // deleted target rows: take those from the counts.
                let after: Option<u64> = match &theirs {
                    Answer::Rows(_) => case.oracle.query("SELECT count(*) FROM t")[0][0]
                        .parse()
                        .ok(),
                    Answer::Error(_) => None,
                };
                match (mine, theirs) {
                    (Err(e), _) if e.contains("more than one source row matched") => {
                        case.oracle.finish(false);
                        if duplicates == 0 {
                            case.fail(&format!(
                                "silt refused a duplicate match DuckDB does not see: {e}"
                            ));
                        }
                        tally.duplicate_refusals += 1;
                    }
                    (Ok(m), Answer::Rows(t)) => {
                        case.oracle.finish(true);
                        let after = after.expect("DuckDB's count after its MERGE");
                        if duplicates > 0 {
                            case.fail(&format!(
                                "{duplicates} target rows matched several source rows, and silt committed: {m:?}"
                            ));
                        }
                        let count = |a: &str| {
                            t.iter()
                                .filter(|r| r[0] == format!("'{a}'"))
                                .count()
                                .to_string()
                        };
                        let got = metrics(&m, &METRICS);
                        let inserted: u64 = count("INSERT").parse().expect("a count");
                        let updated: u64 = count("UPDATE").parse().expect("a count");
                        let deleted = before + inserted - after;
                        let want: BTreeMap<String, String> = [
                            (
                                "num_affected_rows".to_string(),
                                (inserted + updated + deleted).to_string(),
                            ),
                            ("num_inserted_rows".to_string(), inserted.to_string()),
                            ("num_updated_rows".to_string(), updated.to_string()),
                            ("num_deleted_rows".to_string(), deleted.to_string()),
                        ]
                        .into_iter()
                        .collect();
                        for (k, v) in &want {
                            if got.get(k) != Some(v) {
                                case.fail(&format!(
                                    "MERGE metrics differ: silt {got:?}, DuckDB {want:?}"
                                ));
                            }
                        }
                    }
                    (mine, theirs) => {
                        case.settle_refusal(tally, &format!("merge_{}", merge.shape), mine, theirs)
                    }
                }
            }
        }
        case.compare_table("t").await;
    }
}

fn report(tally: &Tally, seed: u64) {
    println!(
        "differential: {} statements from seed {seed}; both refused {}, duplicate-match refusals {}",
        tally.statements, tally.both_refused, tally.duplicate_refusals
    );
    for (k, n) in &tally.by_kind {
        println!("  {k}: {n}");
    }
    let unsupported: usize = tally.unsupported.values().flat_map(|m| m.values()).sum();
    println!("  unsupported by silt: {unsupported}");
    for (kind, errors) in &tally.unsupported {
        for (e, n) in errors {
            println!("    {kind} x{n}: {e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silt_agrees_with_duckdb() {
    let seed: u64 = match std::env::var("SILT_DIFF_SEED") {
        Ok(s) => s.parse().expect("SILT_DIFF_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    };
    let total: usize = std::env::var("SILT_DIFF_STATEMENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    println!("differential: seed {seed} (replay with SILT_DIFF_SEED={seed})");
    let mut oracle = Oracle::start();
    let mut tally = Tally::default();
    for &s in REGRESSION_SEEDS {
        run_case(s, CASE_LENGTH, &mut oracle, &mut tally).await;
    }
    let mut r = Rng::new(seed);
    while tally.statements < total + REGRESSION_SEEDS.len() * CASE_LENGTH {
        let case_seed = r.next();
        run_case(case_seed, CASE_LENGTH, &mut oracle, &mut tally).await;
    }
    report(&tally, seed);
}
