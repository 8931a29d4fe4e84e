//! The README's Rust tour is the example the test suite runs
//! (`examples/tour.rs`), character for character.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

#[test]
fn readme_shows_the_tour_that_runs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("../../README.md")).unwrap();
    let tour = std::fs::read_to_string(root.join("examples/tour.rs")).unwrap();
    assert!(
        readme.contains(&format!("```rust\n{tour}```")),
        "README.md's tour differs from crates/sql/examples/tour.rs: copy the file into the README"
    );
}
