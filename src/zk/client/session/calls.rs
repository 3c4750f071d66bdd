//! The session's calls: queueing them while there is no connection, sending them, and
//! matching replies, auth answers and watch notifications to them.

use super::{Loss, Notice, Phase, SessionCore};
use crate::zk::client::config::ClientModel;
use crate::zk::client::requests::{
    InFlight, OpOutcome, OpResponder, PendingAuth, Queued, Request, op_label, op_result, watch_want,
};
use crate::zk::proto::{OpReply, RequestBody};
use crate::zk::types::{ErrorCode, SessionState, WatchedEvent, ZkResult, Zxid};
use std::time::Duration;

impl SessionCore {
    pub fn handle_request(&mut self, now: Duration, request: Request) {
        if self.is_ended() {
            let err = self.state_error();
            match request {
                Request::Op { op, reply } => {
                    let (kind, path) = op_label(&op);
                    self.finish_op(kind, path.to_string(), reply, Err(err));
                }
                Request::AddAuth { reply, .. } => {
                    let _ = reply.send(Err(err));
                }
                Request::Close { reply } => {
                    let _ = reply.send(if self.state == SessionState::Closed {
                        Ok(())
                    } else {
                        Err(err)
                    });
                }
            }
            return;
        }
        match request {
            Request::Op { op, reply } if self.closing => {
                let (kind, path) = op_label(&op);
                self.finish_op(kind, path.to_string(), reply, Err(ErrorCode::ClientClosed));
            }
            Request::AddAuth { reply, .. } if self.closing => {
                let _ = reply.send(Err(ErrorCode::ClientClosed));
            }
            Request::Op { op, reply } => self.enqueue(now, Queued::Op { op, reply }),
            Request::AddAuth {
                scheme,
                auth,
                reply,
            } => {
                if self.model == ClientModel::Java {
                    // Java keeps every added auth for reconnects whatever the server says.
                    self.auths.push((scheme.clone(), auth.clone()));
                }
                self.enqueue(
                    now,
                    Queued::Auth(PendingAuth {
                        scheme,
                        auth,
                        reply,
                    }),
                );
            }
            Request::Close { reply } => {
                self.close_waiters.push(reply);
                self.begin_close(now);
            }
        }
    }

    /// Every handle was dropped: the crate then closes the session (and so does this, for
    /// both models; see the module docs of `client`).
    pub fn handle_abandoned(&mut self, now: Duration) {
        if !self.is_ended() {
            self.begin_close(now);
        }
    }

    pub(super) fn enqueue(&mut self, now: Duration, item: Queued) {
        if matches!(self.phase, Phase::Connected { .. }) {
            self.last_send = now;
            self.transmit_queued(item);
        } else {
            self.queued.push_back(item);
        }
    }

    pub(super) fn begin_close(&mut self, now: Duration) {
        if self.closing {
            return;
        }
        self.closing = true;
        self.enqueue(now, Queued::Close);
    }

    pub(super) fn transmit_queued(&mut self, item: Queued) {
        match item {
            Queued::Op { op, reply } => {
                let (kind, path) = op_label(&op);
                let (kind, path) = (kind, path.to_string());
                let watch = watch_want(&op);
                let xid = self.take_xid();
                self.in_flight.push_back((
                    xid,
                    InFlight::Op {
                        kind,
                        path,
                        watch,
                        reply,
                    },
                ));
                self.send(RequestBody::Op { xid, op });
            }
            Queued::Auth(a) => {
                let body = RequestBody::AddAuth {
                    scheme: a.scheme.clone(),
                    auth: a.auth.clone(),
                };
                self.auth_waiters.push_back(Some(a));
                self.send(body);
            }
            Queued::Close => {
                let xid = self.take_xid();
                self.in_flight.push_back((xid, InFlight::Close));
                self.send(RequestBody::CloseSession { xid });
            }
        }
    }

    pub(super) fn take_xid(&mut self) -> i32 {
        let xid = self.next_xid;
        self.next_xid = if xid == i32::MAX { 1 } else { xid + 1 };
        xid
    }

    pub(super) fn on_reply(
        &mut self,
        now: Duration,
        xid: i32,
        zxid: Zxid,
        err: ErrorCode,
        reply: OpReply,
    ) {
        if self.model == ClientModel::Rust {
            // The crate ends the session on these codes in any reply header.
            match err {
                ErrorCode::SessionExpired => return self.end(SessionState::Expired),
                ErrorCode::AuthFailed => return self.end(SessionState::AuthFailed),
                _ => {}
            }
        }
        let position = self.in_flight.iter().position(|(x, _)| *x == xid);
        let position = match (self.model, position) {
            (_, None) => None,
            // Java insists on FIFO replies ("Xid out of order").
            (ClientModel::Java, Some(p)) if p != 0 => None,
            (_, Some(p)) => Some(p),
        };
        let Some(position) = position else {
            return self.lose_connection(now, Loss::ProtocolError);
        };
        if zxid > 0 {
            self.last_zxid = self.last_zxid.max(zxid);
        }
        let (_, entry) = self
            .in_flight
            .remove(position)
            .expect("position is in range");
        match entry {
            InFlight::Close => self.end(SessionState::Closed),
            InFlight::Op {
                kind,
                path,
                watch,
                reply: responder,
            } => {
                let result = op_result(&mut self.watches, &path, watch, err, reply);
                self.finish_op(kind, path, responder, result);
            }
        }
    }

    pub(super) fn finish_op(
        &mut self,
        kind: &'static str,
        path: String,
        reply: OpResponder,
        result: ZkResult<OpOutcome>,
    ) {
        let code = match &result {
            Ok(_) => ErrorCode::Ok,
            Err(e) => *e,
        };
        let _ = reply.send(result);
        self.notices.push_back(Notice::OpDone {
            kind,
            path,
            result: code,
        });
    }

    pub(super) fn on_auth_reply(&mut self, err: ErrorCode) {
        let waiter = self.auth_waiters.pop_front().flatten();
        if err == ErrorCode::AuthFailed {
            if let Some(a) = waiter {
                let _ = a.reply.send(Err(ErrorCode::AuthFailed));
            }
            return self.end(SessionState::AuthFailed);
        }
        if let Some(a) = waiter {
            if err == ErrorCode::Ok && self.model == ClientModel::Rust {
                self.auths.push((a.scheme, a.auth));
            }
            let _ = a.reply.send(if err == ErrorCode::Ok {
                Ok(())
            } else {
                Err(err)
            });
        }
    }

    pub(super) fn on_watch(&mut self, event: WatchedEvent) {
        let watches = self.watches.dispatch(&event);
        self.notices
            .push_back(Notice::WatchFired { event, watches });
    }
}
