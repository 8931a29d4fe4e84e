//! Log replay: folding actions, oldest first, into the table state at one
//! version. Pure: no I/O, so it can be property-tested.

use std::collections::HashMap;

use crate::actions::{Action, Add, DomainMetadata, FileKey, Metadata, Protocol, Remove, Txn};

/// The reconciled state of a table while replaying its log.
#[derive(Debug, Default, Clone)]
pub struct ReplayState {
    /// Latest protocol seen.
    pub protocol: Option<Protocol>,
    /// Latest metadata seen.
    pub metadata: Option<Metadata>,
    /// Live files keyed by (path, deletion-vector id).
    pub files: HashMap<FileKey, Add>,
    /// Removed files still remembered (until their retention expires).
    pub tombstones: HashMap<FileKey, Remove>,
    /// Latest `txn` version per application id.
    pub txns: HashMap<String, Txn>,
    /// Live domain metadata per domain.
    pub domains: HashMap<String, DomainMetadata>,
}

impl ReplayState {
    /// Applies one action. Actions must arrive in log order (checkpoint
    /// first, then commits by increasing version).
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Protocol(p) => self.protocol = Some(p),
            Action::Metadata(m) => self.metadata = Some(*m),
            Action::Add(add) => {
                let key = add.key();
                self.tombstones.remove(&key);
                self.files.insert(key, *add);
            }
            Action::Remove(remove) => {
                let key = remove.key();
                self.files.remove(&key);
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

    /// Applies every action of one log file.
    pub fn apply_all(&mut self, actions: impl IntoIterator<Item = Action>) {
        let actions = actions.into_iter();
        self.files.reserve(actions.size_hint().0);
        for a in actions {
            self.apply(a);
        }
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
        assert_eq!(s.files.len(), 1);
        assert!(s.files.keys().all(|k| k.dv_id.as_deref() == Some("ix")));
        assert_eq!(s.tombstones.len(), 1);
        s.apply(add("a", None));
        assert_eq!(
            s.files.len(),
            2,
            "same path, different DV = different logical file"
        );
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
            let expected: usize = last.values().filter(|v| **v).count();
            prop_assert_eq!(s.files.len(), expected);
            for ((p, d), live) in last {
                let key = FileKey { path: p, dv_id: d };
                prop_assert_eq!(s.files.contains_key(&key), live);
                prop_assert_eq!(s.tombstones.contains_key(&key), !live);
            }
        }
    }
}
