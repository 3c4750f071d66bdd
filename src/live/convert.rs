//! Conversions between the `zookeeper-client` crate's types and the project's ZooKeeper
//! vocabulary (`zk::types`), so that observations of a real ensemble compare field by field
//! with those of the simulated one.

use crate::zk::types::{
    Acl, CreateMode, ErrorCode, EventType, OpResult, SessionState, Stat, WatchedEvent, perms,
};
use zookeeper_client as zk;

/// Maps the crate's error to ZooKeeper's code.
///
/// Server answers map to their code. Failures the crate produces itself while the connection
/// breaks (I/O errors, "no response in time", a reply it could not decode or match to a
/// request) leave the outcome of the call unknown, which is exactly `ConnectionLoss`: the crate
/// fails every request in flight with the error that broke the connection.
pub(crate) fn error_code(err: &zk::Error) -> ErrorCode {
    use zk::Error as E;
    match err {
        E::NoNode => ErrorCode::NoNode,
        E::NoAuth => ErrorCode::NoAuth,
        E::BadVersion => ErrorCode::BadVersion,
        E::NoChildrenForEphemerals => ErrorCode::NoChildrenForEphemerals,
        E::NodeExists => ErrorCode::NodeExists,
        E::NotEmpty => ErrorCode::NotEmpty,
        E::SessionExpired => ErrorCode::SessionExpired,
        E::InvalidAcl => ErrorCode::InvalidAcl,
        E::AuthFailed => ErrorCode::AuthFailed,
        E::SessionMoved => ErrorCode::SessionMoved,
        E::NotReadOnly => ErrorCode::NotReadOnly,
        E::NoWatcher => ErrorCode::NoWatcher,
        E::QuotaExceeded => ErrorCode::QuotaExceeded,
        E::Throttled => ErrorCode::Throttled,
        E::MarshallingError => ErrorCode::MarshallingError,
        E::Unimplemented => ErrorCode::Unimplemented,
        E::ConnectionLoss => ErrorCode::ConnectionLoss,
        E::RuntimeInconsistent => ErrorCode::RuntimeInconsistency,
        E::ClientClosed => ErrorCode::ClientClosed,
        // Client-side argument checks (bad path, sequential misuse, deleting "/") and the
        // server's own BadArguments both land here.
        E::BadArguments(_) => ErrorCode::BadArguments,
        // Server codes the crate has no variant for (SystemError, RuntimeInconsistency in
        // multi, OperationTimeout, RequestTimeout, …) keep their wire value.
        E::UnexpectedErrorCode(code) => ErrorCode::from_code(*code),
        // -123: not in our vocabulary; reconfig is never used by the project.
        E::ReconfigDisabled => ErrorCode::from_code(-123),
        // Session establishment (or re-establishment past the client-side expiry) timed out.
        E::Timeout => ErrorCode::OperationTimeout,
        // No server could be reached at all.
        E::NoHosts => ErrorCode::ConnectionLoss,
        E::UnmarshalError { .. } | E::UnexpectedError(_) | E::Custom(_) => {
            ErrorCode::ConnectionLoss
        }
        // `zk::Error` is non-exhaustive; a future variant is a failure of unknown outcome.
        _ => ErrorCode::ConnectionLoss,
    }
}

pub(crate) fn stat(s: &zk::Stat) -> Stat {
    Stat {
        czxid: s.czxid,
        mzxid: s.mzxid,
        ctime: s.ctime,
        mtime: s.mtime,
        version: s.version,
        cversion: s.cversion,
        aversion: s.aversion,
        ephemeral_owner: s.ephemeral_owner,
        data_length: s.data_length,
        num_children: s.num_children,
        pzxid: s.pzxid,
    }
}

pub(crate) fn create_mode(mode: CreateMode) -> zk::CreateMode {
    match mode {
        CreateMode::Persistent => zk::CreateMode::Persistent,
        CreateMode::Ephemeral => zk::CreateMode::Ephemeral,
        CreateMode::PersistentSequential => zk::CreateMode::PersistentSequential,
        CreateMode::EphemeralSequential => zk::CreateMode::EphemeralSequential,
        CreateMode::Container => zk::CreateMode::Container,
    }
}

const PERMISSION_BITS: [(u32, zk::Permission); 5] = [
    (perms::READ, zk::Permission::READ),
    (perms::WRITE, zk::Permission::WRITE),
    (perms::CREATE, zk::Permission::CREATE),
    (perms::DELETE, zk::Permission::DELETE),
    (perms::ADMIN, zk::Permission::ADMIN),
];

/// Our ACL entries as the crate's. Permission bits outside ZooKeeper's five cannot be expressed
/// through the crate: `InvalidAcl`.
pub(crate) fn acls_to_zk(acls: &[Acl]) -> Result<Vec<zk::Acl>, ErrorCode> {
    acls.iter()
        .map(|acl| {
            if acl.perms & !perms::ALL != 0 {
                return Err(ErrorCode::InvalidAcl);
            }
            let permission = PERMISSION_BITS
                .iter()
                .filter(|(bit, _)| acl.perms & bit != 0)
                .fold(zk::Permission::NONE, |sum, (_, p)| sum | *p);
            Ok(zk::Acl::new(
                permission,
                zk::AuthId::new(&acl.scheme, &acl.id),
            ))
        })
        .collect()
}

pub(crate) fn acl_from_zk(acl: &zk::Acl) -> Acl {
    let permission = acl.permission();
    Acl {
        perms: PERMISSION_BITS
            .iter()
            .filter(|(_, p)| permission.has(*p))
            .fold(0, |sum, (bit, _)| sum | bit),
        scheme: acl.scheme().to_string(),
        id: acl.id().to_string(),
    }
}

pub(crate) fn session_state(state: zk::SessionState) -> SessionState {
    match state {
        zk::SessionState::Disconnected => SessionState::Disconnected,
        zk::SessionState::SyncConnected => SessionState::SyncConnected,
        // Read-only mode is off (the adapter never asks for it), so this cannot occur; were
        // it to, the session is connected.
        zk::SessionState::ConnectedReadOnly => SessionState::SyncConnected,
        zk::SessionState::AuthFailed => SessionState::AuthFailed,
        zk::SessionState::Expired => SessionState::Expired,
        zk::SessionState::Closed => SessionState::Closed,
    }
}

pub(crate) fn watched_event(event: &zk::WatchedEvent) -> WatchedEvent {
    let event_type = match event.event_type {
        zk::EventType::Session => EventType::Session,
        zk::EventType::NodeCreated => EventType::NodeCreated,
        zk::EventType::NodeDeleted => EventType::NodeDeleted,
        zk::EventType::NodeDataChanged => EventType::NodeDataChanged,
        zk::EventType::NodeChildrenChanged => EventType::NodeChildrenChanged,
    };
    WatchedEvent {
        event_type,
        session_state: session_state(event.session_state),
        path: event.path.clone(),
    }
}

pub(crate) fn multi_result(result: zk::MultiWriteResult) -> OpResult {
    match result {
        zk::MultiWriteResult::Check => OpResult::Check,
        zk::MultiWriteResult::Delete => OpResult::Delete,
        zk::MultiWriteResult::Create { path, stat: s } => OpResult::Create {
            path,
            stat: stat(&s),
        },
        zk::MultiWriteResult::SetData { stat: s } => OpResult::SetData { stat: stat(&s) },
        // Non-exhaustive upstream; the writer only produces the four above.
        _ => OpResult::Error(ErrorCode::SystemError),
    }
}

/// ZooKeeper's per-op answer to a failed multi: ops before the failing one `Ok`, the failing one
/// its code, the later ones `RuntimeInconsistency`. The crate reports only the index and the
/// code; the rest is what the server sent.
pub(crate) fn failed_multi(len: usize, index: usize, code: ErrorCode) -> Vec<OpResult> {
    (0..len)
        .map(|i| {
            OpResult::Error(match i.cmp(&index) {
                std::cmp::Ordering::Less => ErrorCode::Ok,
                std::cmp::Ordering::Equal => code,
                std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_permissions_round_trip() {
        for bits in 0..=perms::ALL {
            let ours = Acl {
                perms: bits,
                scheme: "digest".into(),
                id: "alice:hash".into(),
            };
            let theirs = acls_to_zk(std::slice::from_ref(&ours)).unwrap();
            assert_eq!(acl_from_zk(&theirs[0]), ours);
        }
        let bad = Acl {
            perms: 32,
            scheme: "world".into(),
            id: "anyone".into(),
        };
        assert_eq!(acls_to_zk(&[bad]), Err(ErrorCode::InvalidAcl));
    }

    #[test]
    fn failed_multi_reports_every_op() {
        assert_eq!(
            failed_multi(4, 1, ErrorCode::NoNode),
            vec![
                OpResult::Error(ErrorCode::Ok),
                OpResult::Error(ErrorCode::NoNode),
                OpResult::Error(ErrorCode::RuntimeInconsistency),
                OpResult::Error(ErrorCode::RuntimeInconsistency),
            ]
        );
    }

    #[test]
    fn server_codes_without_a_crate_variant_keep_their_value() {
        assert_eq!(
            error_code(&zk::Error::UnexpectedErrorCode(-2)),
            ErrorCode::RuntimeInconsistency
        );
        assert_eq!(
            error_code(&zk::Error::UnexpectedErrorCode(-1)),
            ErrorCode::SystemError
        );
        assert_eq!(error_code(&zk::Error::NodeExists), ErrorCode::NodeExists);
        assert_eq!(
            error_code(&zk::Error::ConnectionLoss),
            ErrorCode::ConnectionLoss
        );
    }
}
