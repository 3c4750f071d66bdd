//! The size a request has on the wire, for ZooKeeper's `jute.maxbuffer` check: a server that
//! reads a request longer than the limit ("Len error") closes the client's connection without
//! answering, so the client sees a connection loss and nothing is applied (found by the
//! conformance case `oversized_data`).
//!
//! Sizes follow jute's encoding of the request records (ints 4 bytes, strings and buffers a
//! 4-byte length and their bytes, vectors a 4-byte count), counting the request header (xid
//! and type) as the server's length prefix does.

use crate::zk::proto::{ClientOp, RequestBody};
use crate::zk::types::{Acl, Op};

/// `jute.maxbuffer`'s default (0xfffff bytes).
pub const MAX_BUFFER: usize = 0xfffff;

/// Whether ZooKeeper would refuse to read this request.
pub fn exceeds_max_buffer(body: &RequestBody) -> bool {
    request_len(body) > MAX_BUFFER
}

const INT: usize = 4;
const HEADER: usize = 2 * INT;

fn bytes(len: usize) -> usize {
    INT + len
}

fn acls(acl: &[Acl]) -> usize {
    INT + acl
        .iter()
        .map(|a| INT + bytes(a.scheme.len()) + bytes(a.id.len()))
        .sum::<usize>()
}

fn request_len(body: &RequestBody) -> usize {
    match body {
        RequestBody::Op { op, .. } => HEADER + op_len(op),
        RequestBody::AddAuth { scheme, auth } => {
            HEADER + INT + bytes(scheme.len()) + bytes(auth.len())
        }
        RequestBody::SetWatches {
            data, exist, child, ..
        } => {
            let paths = |v: &Vec<String>| INT + v.iter().map(|p| bytes(p.len())).sum::<usize>();
            HEADER + 8 + paths(data) + paths(exist) + paths(child)
        }
        RequestBody::Connect { .. } | RequestBody::Ping | RequestBody::CloseSession { .. } => {
            HEADER + 64
        }
    }
}

fn op_len(op: &ClientOp) -> usize {
    match op {
        ClientOp::Create {
            path, data, acl, ..
        } => bytes(path.len()) + bytes(data.len()) + acls(acl) + INT,
        ClientOp::SetData { path, data, .. } => bytes(path.len()) + bytes(data.len()) + INT,
        ClientOp::SetAcl { path, acl, .. } => bytes(path.len()) + acls(acl) + INT,
        ClientOp::Multi { ops } => {
            // Each op behind a multi header (type, done flag, error), and a closing header.
            const MULTI_HEADER: usize = INT + 1 + INT;
            ops.iter()
                .map(|o| MULTI_HEADER + multi_op_len(o))
                .sum::<usize>()
                + MULTI_HEADER
        }
        ClientOp::Delete { path, .. } => bytes(path.len()) + INT,
        ClientOp::GetData { path, .. }
        | ClientOp::Exists { path, .. }
        | ClientOp::GetChildren { path, .. } => bytes(path.len()) + 1,
        ClientOp::GetAcl { path } | ClientOp::Sync { path } => bytes(path.len()),
    }
}

fn multi_op_len(op: &Op) -> usize {
    match op {
        Op::Create {
            path, data, acl, ..
        } => bytes(path.len()) + bytes(data.len()) + acls(acl) + INT,
        Op::SetData { path, data, .. } => bytes(path.len()) + bytes(data.len()) + INT,
        Op::Delete { path, .. } | Op::Check { path, .. } => bytes(path.len()) + INT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::types::CreateMode;

    fn create(data_len: usize) -> RequestBody {
        RequestBody::Op {
            xid: 1,
            op: ClientOp::Create {
                path: "/a".into(),
                data: vec![0; data_len],
                acl: Acl::open_unsafe(),
                mode: CreateMode::Persistent,
            },
        }
    }

    #[test]
    fn a_megabyte_of_data_is_too_much_and_less_is_fine() {
        assert!(exceeds_max_buffer(&create(1024 * 1024 + 1)));
        assert!(exceeds_max_buffer(&create(MAX_BUFFER)));
        assert!(!exceeds_max_buffer(&create(1_000_000)));
        assert!(!exceeds_max_buffer(&RequestBody::Ping));
        let multi = RequestBody::Op {
            xid: 2,
            op: ClientOp::Multi {
                ops: vec![
                    Op::SetData {
                        path: "/a".into(),
                        data: vec![0; 600_000],
                        version: -1,
                    };
                    2
                ],
            },
        };
        assert!(exceeds_max_buffer(&multi));
    }
}
