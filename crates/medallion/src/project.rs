//! A pipeline project on disk: the spec file, the SQL files its
//! `libraries` select, configuration from the spec overridden by the
//! caller's, and the storage root (the spec's, relative to the project, or
//! the caller's).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::error::{PipelineError, PipelineResult};
use crate::pipeline::Pipeline;
use crate::spec::PipelineSpec;

/// What the caller sets beside the spec.
#[derive(Debug, Clone, Default)]
pub struct ProjectOptions {
    /// `--conf key=value` (overrides the spec's configuration).
    pub conf: BTreeMap<String, String>,
    /// `--storage` (overrides the spec's storage).
    pub storage: Option<String>,
    /// `--storage-option key=value`.
    pub storage_options: HashMap<String, String>,
}

/// A loaded project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The spec file.
    pub spec_path: PathBuf,
    /// The spec.
    pub spec: PipelineSpec,
    /// The SQL files, relative to the project directory.
    pub files: Vec<PathBuf>,
    /// The checked pipeline.
    pub pipeline: Pipeline,
}

fn is_uri(s: &str) -> bool {
    s.contains("://")
}

/// Loads and checks the project in `dir` (or at the spec file `dir`).
pub fn load(dir: &Path, options: &ProjectOptions) -> PipelineResult<Project> {
    let (spec_path, spec) = PipelineSpec::load(dir)?;
    let root = spec_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let root = root.canonicalize().unwrap_or(root);
    let storage = match (&options.storage, &spec.storage) {
        (Some(s), _) => absolute(s, &std::env::current_dir().unwrap_or_default()),
        (None, Some(s)) => absolute(s, &root),
        (None, None) => {
            return Err(PipelineError::Spec {
                path: spec_path.display().to_string(),
                message: "no storage root: set `storage` in the spec or pass --storage".into(),
            });
        }
    };
    let mut conf = spec.configuration.clone();
    conf.extend(options.conf.clone());
    let mut files: Vec<PathBuf> = Vec::new();
    for lib in &spec.libraries {
        let Some(pattern) = lib.pattern() else {
            continue;
        };
        // `dir/**` selects every file below `dir`.
        let pattern_all = if pattern.ends_with("**") {
            format!("{pattern}/*")
        } else {
            pattern.to_string()
        };
        let full = root.join(&pattern_all);
        let pattern_text = full.to_string_lossy().to_string();
        let matches = glob::glob(&pattern_text).map_err(|e| PipelineError::Spec {
            path: spec_path.display().to_string(),
            message: format!("library pattern {pattern:?}: {e}"),
        })?;
        let mut found = 0;
        for m in matches {
            let path = m.map_err(|e| PipelineError::Spec {
                path: spec_path.display().to_string(),
                message: format!("library pattern {pattern:?}: {e}"),
            })?;
            let candidates: Vec<PathBuf> = if path.is_dir() {
                let sub = format!("{}/**/*", path.display());
                glob::glob(&sub)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|p| p.is_file())
                    .collect()
            } else {
                vec![path]
            };
            for c in candidates {
                match c.extension().and_then(|e| e.to_str()) {
                    Some("sql") => {
                        found += 1;
                        let rel = c.strip_prefix(&root).map(Path::to_path_buf).unwrap_or(c);
                        if !files.contains(&rel) {
                            files.push(rel);
                        }
                    }
                    Some("py") => {
                        return Err(PipelineError::Spec {
                            path: c.display().to_string(),
                            message: "Python definitions are not supported: silt runs the SQL language (or build the pipeline in Rust with Pipeline::builder)".into(),
                        });
                    }
                    _ => {}
                }
            }
        }
        if found == 0 {
            return Err(PipelineError::Spec {
                path: spec_path.display().to_string(),
                message: format!("library pattern {pattern:?} matches no .sql file"),
            });
        }
    }
    files.sort();
    let mut builder = Pipeline::builder(&spec.name, &storage)
        .storage_options(options.storage_options.clone())
        .base_dir(&root)
        .default_schema(
            spec.schema
                .as_deref()
                .unwrap_or(crate::pipeline::DEFAULT_SCHEMA),
        );
    for (k, v) in &conf {
        builder = builder.conf(k, v);
    }
    for f in &files {
        let full = root.join(f);
        let text = std::fs::read_to_string(&full).map_err(|source| PipelineError::Io {
            path: full.display().to_string(),
            source,
        })?;
        builder = builder.sql(&f.display().to_string(), &text);
    }
    let pipeline = builder.build()?;
    Ok(Project {
        spec_path,
        spec,
        files,
        pipeline,
    })
}

/// A local path made absolute against `base`; URIs unchanged.
fn absolute(s: &str, base: &Path) -> String {
    if is_uri(s) {
        return s.trim_end_matches('/').to_string();
    }
    let p = Path::new(s);
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    let text = full.to_string_lossy().to_string();
    // Drop `./` pieces so the same root always prints the same way.
    text.replace("/./", "/").trim_end_matches('/').to_string()
}
