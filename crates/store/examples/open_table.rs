//! Opens a Delta table and prints what its latest (or a chosen) version holds.
//!
//! ```sh
//! cargo run -p silt-store --example open_table -- ../shared/delta-vectors/delta-rs/data/simple_table 2
//! ```

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let location = args
        .next()
        .ok_or("usage: open_table <table path or URI> [version]")?;
    let mut builder = silt_store::TableBuilder::new(location);
    if let Some(v) = args.next() {
        builder = builder.at_version(v.parse()?);
    }
    let snapshot = builder.load().await?;
    println!(
        "version {} — {} files, {} bytes, protocol {}/{}",
        snapshot.version(),
        snapshot.files().len(),
        snapshot.size_in_bytes(),
        snapshot.protocol().min_reader_version,
        snapshot.protocol().min_writer_version
    );
    for field in &snapshot.metadata().schema().fields {
        println!("  {}: {}", field.name, field.data_type.simple_name());
    }
    Ok(())
}
