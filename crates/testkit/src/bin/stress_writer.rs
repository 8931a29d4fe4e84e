//! `silt-stress-writer <table> <writer-id> <commits>`: appends `commits`
//! one-file commits to a local table as application `writer-<id>` (batch i
//! is app version i, so retries are idempotent), printing `ack <i>
//! <version>` after each acknowledged commit. Used by the multi-process and
//! crash tests.

use std::io::Write;

use silt_log::{CommitOutcome, Operation};
use silt_store::TableBuilder;
use silt_testkit::add_action;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(table), Some(id), Some(n)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: silt-stress-writer <table> <writer-id> <commits>");
        std::process::exit(2);
    };
    let n: i64 = n.parse().unwrap_or(0);
    let app = format!("writer-{id}");
    let mut out = std::io::stdout();
    for i in 0..n {
        loop {
            let snapshot = match TableBuilder::new(table).load().await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("load failed, retrying: {e}");
                    continue;
                }
            };
            let path = format!("w{id}-{i}.parquet");
            let outcome = snapshot
                .transaction(Operation::append())
                .set_app_transaction(app.clone(), i)
                .add_files([add_action(&path, 100, 100)])
                .commit()
                .await;
            match outcome {
                Ok(CommitOutcome::Committed(c)) => {
                    let _ = writeln!(out, "ack {i} {}", c.version);
                    let _ = out.flush();
                    break;
                }
                Ok(CommitOutcome::AlreadyApplied { table_version, .. }) => {
                    let _ = writeln!(out, "ack {i} {table_version} already");
                    let _ = out.flush();
                    break;
                }
                Ok(CommitOutcome::Conflict(c)) => {
                    eprintln!("unexpected conflict for a blind append: {c}");
                    std::process::exit(3);
                }
                Err(e) => eprintln!("commit failed, retrying: {e}"),
            }
        }
    }
}
