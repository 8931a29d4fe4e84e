//! Every error silt's crates return is typed: no `Result<_, String>` in
//! `crates/*/src` (the check of issue 24: `grep -rn "Result<[^,]*, String>"`
//! finds nothing), so callers decide retry, fail or skip by matching a type.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};

/// The `.rs` files below `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `line` has `Result<…, String>` with no comma before the
/// `, String>` (the grep's `Result<[^,]*, String>`).
fn string_result(line: &str) -> bool {
    line.match_indices("Result<").any(|(i, _)| {
        let rest = &line[i + "Result<".len()..];
        rest.find(',')
            .is_some_and(|c| rest[c..].starts_with(", String>"))
    })
}

#[test]
fn no_library_error_is_a_string() {
    assert!(string_result("fn f() -> Result<u8, String> {"));
    assert!(!string_result("fn f() -> Result<KeyValues, CliError> {"));
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap() {
        let src = entry.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() > 50, "found the crates' sources");
    let mut found = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            if string_result(line) {
                found.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "errors as strings:\n{}", found.join("\n"));
}
