//! Names of the files in `_delta_log/`: commits, checkpoints (classic,
//! multi-part, V2), version checksums, log compactions and
//! `_last_checkpoint`. Pure parsing; nothing here touches storage.

/// The log directory below the table root.
pub const LOG_DIR: &str = "_delta_log/";
/// The sidecar directory below the table root.
pub const SIDECAR_DIR: &str = "_delta_log/_sidecars/";
/// The `_last_checkpoint` hint file.
pub const LAST_CHECKPOINT: &str = "_delta_log/_last_checkpoint";

/// The kind of a V2 checkpoint's top-level file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum V2Format {
    /// `.json`
    Json,
    /// `.parquet`
    Parquet,
}

/// What a file in `_delta_log/` is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogFileKind {
    /// `<v>.json`
    Commit,
    /// `<v>.checkpoint.parquet`
    ClassicCheckpoint,
    /// `<v>.checkpoint.<part>.<parts>.parquet`
    MultiPartCheckpoint {
        /// 1-based part number.
        part: u32,
        /// Total number of parts.
        parts: u32,
    },
    /// `<v>.checkpoint.<uuid>.{json,parquet}`
    V2Checkpoint {
        /// The UUID in the name.
        uuid: String,
        /// Top-level file format.
        format: V2Format,
    },
    /// `<v>.crc`
    Checksum,
    /// `<start>.<end>.compacted.json`: the reconciled actions of commits
    /// `start..=end`.
    Compaction {
        /// Last version covered (the file's `version` is the first).
        end: u64,
    },
}

/// A parsed log file name with its version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogFileName {
    /// The version in the name (the first version for compactions).
    pub version: u64,
    /// The kind of file.
    pub kind: LogFileKind,
}

fn parse_version(s: &str) -> Option<u64> {
    if s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn parse_part(s: &str) -> Option<u32> {
    if s.len() == 10 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

impl LogFileName {
    /// Parses a file name (the last path segment). Anything that is not a
    /// well-formed log file gives `None`: such files are ignored by readers.
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.rsplit('/').next()?;
        let (version, rest) = name.split_at_checked(20)?;
        let version = parse_version(version)?;
        let rest = rest.strip_prefix('.')?;
        let kind = match rest {
            "json" => LogFileKind::Commit,
            "crc" => LogFileKind::Checksum,
            "checkpoint.parquet" => LogFileKind::ClassicCheckpoint,
            _ => {
                if let Some(cp) = rest.strip_prefix("checkpoint.") {
                    Self::parse_checkpoint_tail(cp)?
                } else {
                    let (end, tail) = rest.split_at_checked(20)?;
                    let end = parse_version(end)?;
                    if tail != ".compacted.json" || end < version {
                        return None;
                    }
                    LogFileKind::Compaction { end }
                }
            }
        };
        Some(Self { version, kind })
    }

    fn parse_checkpoint_tail(cp: &str) -> Option<LogFileKind> {
        if let Some(uuid) = cp.strip_suffix(".json") {
            return is_uuid(uuid).then(|| LogFileKind::V2Checkpoint {
                uuid: uuid.to_string(),
                format: V2Format::Json,
            });
        }
        let body = cp.strip_suffix(".parquet")?;
        if is_uuid(body) {
            return Some(LogFileKind::V2Checkpoint {
                uuid: body.to_string(),
                format: V2Format::Parquet,
            });
        }
        let (part, parts) = body.split_once('.')?;
        let (part, parts) = (parse_part(part)?, parse_part(parts)?);
        (part >= 1 && part <= parts).then_some(LogFileKind::MultiPartCheckpoint { part, parts })
    }

    /// Whether this file is (part of) a checkpoint.
    pub fn is_checkpoint(&self) -> bool {
        matches!(
            self.kind,
            LogFileKind::ClassicCheckpoint
                | LogFileKind::MultiPartCheckpoint { .. }
                | LogFileKind::V2Checkpoint { .. }
        )
    }

    /// The file name this value stands for.
    pub fn file_name(&self) -> String {
        let v = self.version;
        match &self.kind {
            LogFileKind::Commit => format!("{v:020}.json"),
            LogFileKind::Checksum => format!("{v:020}.crc"),
            LogFileKind::ClassicCheckpoint => format!("{v:020}.checkpoint.parquet"),
            LogFileKind::MultiPartCheckpoint { part, parts } => {
                format!("{v:020}.checkpoint.{part:010}.{parts:010}.parquet")
            }
            LogFileKind::V2Checkpoint { uuid, format } => {
                let ext = match format {
                    V2Format::Json => "json",
                    V2Format::Parquet => "parquet",
                };
                format!("{v:020}.checkpoint.{uuid}.{ext}")
            }
            LogFileKind::Compaction { end } => format!("{v:020}.{end:020}.compacted.json"),
        }
    }
}

/// Path of the commit file for `version`, relative to the table root.
pub fn commit_path(version: u64) -> String {
    format!("{LOG_DIR}{version:020}.json")
}

/// Path of the checksum file for `version`, relative to the table root.
pub fn checksum_path(version: u64) -> String {
    format!("{LOG_DIR}{version:020}.crc")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_and_round_trips() {
        let names = [
            "00000000000000000007.json",
            "00000000000000000007.crc",
            "00000000000000000010.checkpoint.parquet",
            "00000000000000000010.checkpoint.0000000002.0000000003.parquet",
            "00000000000000000002.checkpoint.39af70be-31c1-4e29-ac01-acfe7c9e27ba.json",
            "00000000000000000002.checkpoint.39af70be-31c1-4e29-ac01-acfe7c9e27ba.parquet",
            "00000000000000000006.00000000000000000010.compacted.json",
        ];
        for n in names {
            let parsed = LogFileName::parse(n).unwrap_or_else(|| panic!("{n}"));
            assert_eq!(parsed.file_name(), n);
        }
        assert_eq!(
            LogFileName::parse("_delta_log/00000000000000000003.json")
                .unwrap()
                .version,
            3
        );
    }

    #[test]
    fn ignores_other_files() {
        for n in [
            "_last_checkpoint",
            ".00000000000000000000.json.crc",
            "0000000000000000000.json",
            "00000000000000000001.json.tmp",
            "00000000000000000001.checkpoint.0000000004.0000000003.parquet",
            "00000000000000000001.checkpoint.0000000000.0000000003.parquet",
            "00000000000000000009.00000000000000000008.compacted.json",
            "00000000000000000002.checkpoint.not-a-uuid.json",
            "000000000000000000Ab.json",
            "",
        ] {
            assert!(LogFileName::parse(n).is_none(), "{n}");
        }
    }
}
