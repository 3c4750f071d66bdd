//! What the election znodes hold. Both records are small JSON documents, so an operator can
//! read them with `zkCli.sh get`, and both carry a format version so a later release can
//! change them without misreading older nodes.

use super::role::Priority;
use crate::zk::types::SessionId;
use serde::{Deserialize, Serialize};

const FORMAT: u32 = 1;

/// The data of a candidate znode. The name and priority are parsed from here, never from the
/// znode's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateRecord {
    pub format: u32,
    pub name: String,
    pub priority: u32,
}

impl CandidateRecord {
    pub fn new(name: &str, priority: Priority) -> Self {
        CandidateRecord {
            format: FORMAT,
            name: name.to_string(),
            priority: priority.0,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a candidate record always serializes")
    }

    pub fn decode(data: &[u8]) -> Result<Self, RecordError> {
        let record: CandidateRecord =
            serde_json::from_slice(data).map_err(|e| RecordError::Malformed(e.to_string()))?;
        if record.format != FORMAT {
            return Err(RecordError::UnknownFormat(record.format));
        }
        Ok(record)
    }
}

/// Who holds mastership of the pair: the candidate name and the session that claimed it.
/// Mastership belongs to a session, not to a name: a restarted node (new session) never
/// inherits the previous incarnation's grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub name: String,
    pub session: SessionId,
}

/// The data of the term znode. Every claim of mastership rewrites it in the same multi that
/// checks the claimant's candidacy; the zxid of that write is the grant's fencing token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermRecord {
    pub format: u32,
    pub holder: Option<Holder>,
}

impl TermRecord {
    pub fn released() -> Self {
        TermRecord {
            format: FORMAT,
            holder: None,
        }
    }

    pub fn held_by(name: &str, session: SessionId) -> Self {
        TermRecord {
            format: FORMAT,
            holder: Some(Holder {
                name: name.to_string(),
                session,
            }),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a term record always serializes")
    }

    /// An empty term node (created by hand, or by an older tool) counts as released.
    pub fn decode(data: &[u8]) -> Result<Self, RecordError> {
        if data.is_empty() {
            return Ok(TermRecord::released());
        }
        let record: TermRecord =
            serde_json::from_slice(data).map_err(|e| RecordError::Malformed(e.to_string()))?;
        if record.format != FORMAT {
            return Err(RecordError::UnknownFormat(record.format));
        }
        Ok(record)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("malformed election record: {0}")]
    Malformed(String),
    #[error("election record of unknown format {0}")]
    UnknownFormat(u32),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_round_trip() {
        let r = CandidateRecord::new("node-a", Priority(2000));
        assert_eq!(CandidateRecord::decode(&r.encode()), Ok(r));
    }

    #[test]
    fn term_round_trip() {
        for r in [
            TermRecord::released(),
            TermRecord::held_by("node-b", 0x1234_5678_9abc),
        ] {
            assert_eq!(TermRecord::decode(&r.encode()), Ok(r));
        }
        assert_eq!(TermRecord::decode(b""), Ok(TermRecord::released()));
    }

    #[test]
    fn bad_records_are_errors_not_panics() {
        assert!(matches!(
            CandidateRecord::decode(b"node-a-p10"),
            Err(RecordError::Malformed(_))
        ));
        assert!(matches!(
            CandidateRecord::decode(br#"{"format":1,"name":"a","priority":-3}"#),
            Err(RecordError::Malformed(_))
        ));
        assert!(matches!(
            CandidateRecord::decode(br#"{"format":1,"name":"a","priority":"10"}"#),
            Err(RecordError::Malformed(_))
        ));
        assert_eq!(
            CandidateRecord::decode(br#"{"format":7,"name":"a","priority":1}"#),
            Err(RecordError::UnknownFormat(7))
        );
        assert!(TermRecord::decode(&[0xff, 0x00]).is_err());
    }
}
