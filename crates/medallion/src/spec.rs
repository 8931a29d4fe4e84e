//! The project spec, in Spark Declarative Pipelines' format
//! (`spark-pipeline.yml` / `.yaml`): `name`, `libraries` (globs of SQL
//! files), `storage` (the root under which datasets live), `configuration`
//! (values for `${key}` in the SQL), and the default `schema`/`database`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{PipelineError, PipelineResult};

/// File names a project's spec may have, in the order they are looked for.
pub const SPEC_FILES: &[&str] = &[
    "spark-pipeline.yml",
    "spark-pipeline.yaml",
    "pipeline.yml",
    "pipeline.yaml",
];

/// A library entry: `- glob: { include: pattern }` or `- file: path`
/// (or `- file: { path: … }`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Library {
    /// Files matching a pattern relative to the project directory.
    #[serde(default)]
    pub glob: Option<GlobEntry>,
    /// One file.
    #[serde(default)]
    pub file: Option<FileEntry>,
}

/// `glob: { include: pattern }`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GlobEntry {
    /// The pattern (`transformations/**`, `sql/*.sql`).
    pub include: String,
}

/// `file: path` or `file: { path: … }`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum FileEntry {
    /// `file: path`.
    Path(String),
    /// `file: { path: … }`.
    Object {
        /// The path.
        path: String,
    },
}

impl Library {
    /// The pattern this entry selects (a file path is a pattern too).
    pub fn pattern(&self) -> Option<&str> {
        match (&self.glob, &self.file) {
            (Some(g), None) => Some(&g.include),
            (None, Some(FileEntry::Path(p))) | (None, Some(FileEntry::Object { path: p })) => {
                Some(p)
            }
            _ => None,
        }
    }
}

/// The spec file's contents.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// The pipeline's name (part of its commits' application ids).
    pub name: String,
    /// Where the datasets live (a path relative to the project, or a URI).
    #[serde(default)]
    pub storage: Option<String>,
    /// The SQL files.
    #[serde(default)]
    pub libraries: Vec<Library>,
    /// `${key}` values.
    #[serde(default)]
    pub configuration: BTreeMap<String, String>,
    /// The default schema of bare dataset names.
    #[serde(default, alias = "database")]
    pub schema: Option<String>,
    /// Accepted for compatibility; silt has no catalog.
    #[serde(default)]
    pub catalog: Option<String>,
}

impl PipelineSpec {
    /// Reads and checks the spec in `dir` (or the spec file `dir` names).
    pub fn load(dir: &Path) -> PipelineResult<(PathBuf, PipelineSpec)> {
        let path = if dir.is_file() {
            dir.to_path_buf()
        } else {
            SPEC_FILES
                .iter()
                .map(|f| dir.join(f))
                .find(|p| p.is_file())
                .ok_or_else(|| PipelineError::Spec {
                    path: dir.display().to_string(),
                    message: format!(
                        "no pipeline spec here (looked for {})",
                        SPEC_FILES.join(", ")
                    ),
                })?
        };
        let text = std::fs::read_to_string(&path).map_err(|source| PipelineError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let spec = Self::parse(&path.display().to_string(), &text)?;
        Ok((path, spec))
    }

    /// Parses spec text (`path` names it in errors).
    pub fn parse(path: &str, text: &str) -> PipelineResult<PipelineSpec> {
        let spec: PipelineSpec =
            serde_yaml_ng::from_str(text).map_err(|e| PipelineError::Spec {
                path: path.to_string(),
                message: e.to_string(),
            })?;
        if spec.name.trim().is_empty()
            || !spec
                .name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(PipelineError::Spec {
                path: path.to_string(),
                message: format!(
                    "name {:?} must be non-empty letters, digits, `_`, `-` or `.`",
                    spec.name
                ),
            });
        }
        if let Some(i) = spec.libraries.iter().position(|l| l.pattern().is_none()) {
            return Err(PipelineError::Spec {
                path: path.to_string(),
                message: format!(
                    "libraries[{i}] needs exactly one of `glob: {{include: …}}` or `file: …`"
                ),
            });
        }
        if spec.libraries.is_empty() {
            return Err(PipelineError::Spec {
                path: path.to_string(),
                message: "libraries is empty: list the SQL files (`- glob: {include: transformations/**}`)".into(),
            });
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_sdp_format() {
        let s = PipelineSpec::parse(
            "p.yml",
            "name: iot\nstorage: ./lake\nlibraries:\n  - glob:\n      include: transformations/**\n  - file: extra.sql\nconfiguration:\n  landing: /data\n  n: \"3\"\ndatabase: bronze\n",
        )
        .unwrap();
        assert_eq!(s.name, "iot");
        assert_eq!(s.libraries.len(), 2);
        assert_eq!(s.schema.as_deref(), Some("bronze"));
        assert_eq!(s.configuration["n"], "3");
    }

    #[test]
    fn refuses_unknown_keys_and_empty_libraries() {
        let e = PipelineSpec::parse("p.yml", "name: x\nlibaries: []\n").unwrap_err();
        assert!(e.to_string().contains("libaries"), "{e}");
        let e = PipelineSpec::parse("p.yml", "name: x\n").unwrap_err();
        assert!(e.to_string().contains("libraries is empty"), "{e}");
        assert!(PipelineSpec::parse("p.yml", "name: 'a b'\nlibraries: [{file: x.sql}]").is_err());
    }
}
