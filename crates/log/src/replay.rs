//! Log replay: folding actions, oldest first, into the table state at one
//! version. Pure: no I/O, so it can be property-tested.

use std::collections::{HashMap, HashSet};

use crate::actions::{Action, Add, DomainMetadata, FileKey, Metadata, Protocol, Remove, Txn};
use crate::checkpoint_read::CheckpointContents;
use crate::file_list::FileList;

/// The reconciled state of a table while replaying its log.
///
/// A checkpoint holds reconciled state (each logical file once), so its
/// files are kept as decoded (column-wise, see [`FileList`]) and never
/// hashed; only the files touched by later commits are tracked by key, and a
/// checkpoint file whose key a later commit touched is dropped when the state
/// is finished.
#[derive(Debug, Default, Clone)]
pub struct ReplayState {
    /// Latest protocol seen.
    pub protocol: Option<Protocol>,
    /// Latest metadata seen.
    pub metadata: Option<Metadata>,
    /// Latest `txn` version per application id.
    pub txns: HashMap<String, Txn>,
    /// Live domain metadata per domain.
    pub domains: HashMap<String, DomainMetadata>,
    checkpoint_files: FileList,
    checkpoint_tombstones: Vec<Remove>,
    /// Keys added or removed after the checkpoint.
    touched: HashSet<FileKey>,
    files: HashMap<FileKey, Add>,
    tombstones: HashMap<FileKey, Remove>,
}

/// Live files and tombstones at the end of replay.
#[derive(Debug, Default, Clone)]
pub struct ReplayedFiles {
    /// Live files, in no particular order.
    pub files: FileList,
    /// Remembered removes, in no particular order.
    pub tombstones: Vec<Remove>,
}

impl ReplayState {
    /// Applies a checkpoint (all parts and sidecars). Must come before any
    /// commit.
    pub fn apply_checkpoint(&mut self, checkpoint: CheckpointContents) {
        self.checkpoint_files = checkpoint.files;
        for action in checkpoint.actions {
            match action {
                Action::Add(add) => self.checkpoint_files.push(*add),
                Action::Remove(remove) => self.checkpoint_tombstones.push(*remove),
                other => self.apply(other),
            }
        }
    }

    /// Applies one commit action. Actions must arrive in log order (commits
    /// by increasing version, after the checkpoint).
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Protocol(p) => self.protocol = Some(p),
            Action::Metadata(m) => self.metadata = Some(*m),
            Action::Add(add) => {
                let key = add.key();
                self.tombstones.remove(&key);
                if !self.checkpoint_files.is_empty() || !self.checkpoint_tombstones.is_empty() {
                    self.touched.insert(key.clone());
                }
                self.files.insert(key, *add);
            }
            Action::Remove(remove) => {
                let key = remove.key();
                self.files.remove(&key);
                if !self.checkpoint_files.is_empty() || !self.checkpoint_tombstones.is_empty() {
                    self.touched.insert(key.clone());
                }
                self.tombstones.insert(key, *remove);
            }
            Action::Txn(t) => {
                self.txns.insert(t.app_id.clone(), t);
            }
            Action::DomainMetadata(d) => {
                if d.removed {
                    self.domains.remove(&d.domain);
                } else {
                    self.domains.insert(d.domain.clone(), d);
                }
            }
            // Not part of the reconciled state.
            Action::Cdc(_)
            | Action::CommitInfo(_)
            | Action::Sidecar(_)
            | Action::CheckpointMetadata(_) => {}
        }
    }

    /// Applies every action of one commit file.
    pub fn apply_all(&mut self, actions: impl IntoIterator<Item = Action>) {
        for a in actions {
            self.apply(a);
        }
    }

    /// Takes the live files and tombstones out of the state.
    pub fn take_files(&mut self) -> ReplayedFiles {
        let touched = std::mem::take(&mut self.touched);
        let mut files = std::mem::take(&mut self.checkpoint_files);
        let mut tombstones = std::mem::take(&mut self.checkpoint_tombstones);
        if !touched.is_empty() {
            files.remove_keys(&touched);
            tombstones.retain(|r| !touched.contains(&r.key()));
        }
        files.extend(std::mem::take(&mut self.files).into_values());
        tombstones.extend(std::mem::take(&mut self.tombstones).into_values());
        ReplayedFiles { files, tombstones }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::parse_action_line;
    use proptest::prelude::*;

    fn add(path: &str, dv: Option<&str>) -> Action {
        let dv = dv
            .map(|d| {
                format!(
                    r#","deletionVector":{{"storageType":"i","pathOrInlineDv":"{d}","sizeInBytes":1,"cardinality":1}}"#
                )
            })
            .unwrap_or_default();
        let line = format!(
            r#"{{"add":{{"path":"{path}","partitionValues":{{}},"size":1,"modificationTime":0,"dataChange":true{dv}}}}}"#
        );
        parse_action_line(line.as_bytes()).unwrap().unwrap()
    }

    fn remove(path: &str, dv: Option<&str>) -> Action {
        let dv = dv
            .map(|d| {
                format!(
                    r#","deletionVector":{{"storageType":"i","pathOrInlineDv":"{d}","sizeInBytes":1,"cardinality":1}}"#
                )
            })
            .unwrap_or_default();
        let line = format!(
            r#"{{"remove":{{"path":"{path}","dataChange":true,"deletionTimestamp":1{dv}}}}}"#
        );
        parse_action_line(line.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn dv_update_replaces_the_logical_file() {
        let mut s = ReplayState::default();
        s.apply(add("a", None));
        s.apply(remove("a", None));
        s.apply(add("a", Some("x")));
        let out = s.clone().take_files();
        assert_eq!(out.files.len(), 1);
        assert!(
            out.files
                .iter()
                .all(|f| f.key().dv_id.as_deref() == Some("ix"))
        );
        assert_eq!(out.tombstones.len(), 1);
        s.apply(add("a", None));
        assert_eq!(
            s.take_files().files.len(),
            2,
            "same path, different DV = different logical file"
        );
    }

    fn key_set(files: &ReplayedFiles) -> (Vec<FileKey>, Vec<FileKey>) {
        let mut f: Vec<_> = files.files.iter().map(|a| a.key()).collect();
        let mut t: Vec<_> = files.tombstones.iter().map(Remove::key).collect();
        f.sort();
        t.sort();
        (f, t)
    }

    proptest! {
        /// Replay agrees with a naive model: a key is live iff its last
        /// add/remove was an add.
        #[test]
        fn replay_matches_model(ops in proptest::collection::vec((0u8..6, any::<bool>(), proptest::option::of(0u8..2)), 0..60)) {
            let mut s = ReplayState::default();
            let mut last: HashMap<(String, Option<String>), bool> = HashMap::new();
            for (f, is_add, dv) in &ops {
                let path = format!("f{f}");
                let dv = dv.map(|d| format!("dv{d}"));
                let action = if *is_add { add(&path, dv.as_deref()) } else { remove(&path, dv.as_deref()) };
                s.apply(action);
                last.insert((path, dv.map(|d| format!("i{d}"))), *is_add);
            }
            let out = s.take_files();
            let expected: usize = last.values().filter(|v| **v).count();
            prop_assert_eq!(out.files.len(), expected);
            let (files, tombstones) = key_set(&out);
            for ((p, d), live) in last {
                let key = FileKey { path: p, dv_id: d };
                prop_assert_eq!(files.contains(&key), live);
                prop_assert_eq!(tombstones.contains(&key), !live);
            }
        }

        /// Replaying a checkpoint (the reconciled state after a prefix of the
        /// log) and then the rest equals replaying the whole log.
        #[test]
        fn checkpoint_then_commits_equals_full_replay(
            ops in proptest::collection::vec((0u8..6, any::<bool>(), proptest::option::of(0u8..2)), 0..60),
            split in 0usize..60,
        ) {
            let actions: Vec<Action> = ops.iter().map(|(f, is_add, dv)| {
                let path = format!("f{f}");
                let dv = dv.map(|d| format!("dv{d}"));
                if *is_add { add(&path, dv.as_deref()) } else { remove(&path, dv.as_deref()) }
            }).collect();
            let split = split.min(actions.len());
            let mut full = ReplayState::default();
            full.apply_all(actions.clone());
            let mut prefix = ReplayState::default();
            prefix.apply_all(actions[..split].to_vec());
            let reconciled = prefix.take_files();
            // The checkpoint's files held column-wise, as a loaded one's are.
            let mut files = FileList::default();
            files.extend(reconciled.files.iter().map(|a| a.into_owned()));
            files.compact_tail();
            let state: Vec<Action> = reconciled.tombstones.into_iter().map(|r| Action::Remove(Box::new(r))).collect();
            let checkpoint = CheckpointContents { actions: state, files };
            let mut from_checkpoint = ReplayState::default();
            from_checkpoint.apply_checkpoint(checkpoint);
            from_checkpoint.apply_all(actions[split..].to_vec());
            prop_assert_eq!(key_set(&full.take_files()), key_set(&from_checkpoint.take_files()));
        }
    }
}
