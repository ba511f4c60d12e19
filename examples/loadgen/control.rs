//! The worker's control connections: a few keep-alive HTTP connections per receiver
//! thread that send each subscriber's signed `POST /connect`, one request in flight
//! each, and hand registered subscribers on to be opened. Part of `worker`.

use super::{Phase, Worker, CONTROL};
use crate::net;
use crate::wire::{ReadEnd, Wire};
use channelstream::decoded::Decoded;
use mio::{Interest, Token};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

impl Worker {
    fn signature(&mut self) -> String {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if self.signature.0 != secs {
            self.signature = (secs, self.signer.sign("channelstream", secs));
        }
        self.signature.1.clone()
    }

    /// Sends `/connect` for queued subscribers on idle control connections.
    pub(super) fn send_registrations(&mut self) {
        for j in 0..self.controls.len() {
            if self.controls[j].busy.is_some() {
                continue;
            }
            let Some(i) = self.register_queue.pop_front() else {
                break;
            };
            if self.controls[j].wire.is_none() {
                match net::connect(self.spec.target, None).and_then(|mut s| {
                    self.poll.registry().register(
                        &mut s,
                        Token(CONTROL + j),
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    Ok(s)
                }) {
                    Ok(s) => self.controls[j].wire = Some(Wire::new(s)),
                    Err(e) => {
                        self.fail_sub(i, format!("control connect: {}", e.kind()));
                        continue;
                    }
                }
            }
            let body = serde_json::json!({
                "username": self.subs[i].username,
                "conn_id": self.subs[i].proto.conn_id,
                "channels": [format!("lg{}", self.subs[i].proto.channel)],
                "info": {"include_history": false, "include_users": false},
            })
            .to_string();
            let sig = self.signature();
            self.subs[i].proto.phase = Phase::Registering;
            self.subs[i].proto.setup_started = Some(Instant::now());
            let host = self.spec.host.clone();
            if let Some(wire) = self.controls[j].wire.as_mut() {
                crate::http::encode_request(
                    "POST",
                    "/connect",
                    &host,
                    Some(&sig),
                    body.as_bytes(),
                    wire.out(),
                );
                let _ = wire.flush();
            }
            self.controls[j].busy = Some(i);
        }
    }

    pub(super) fn on_control_event(&mut self, j: usize) {
        let Some(control) = self.controls.get_mut(j) else {
            return;
        };
        let Some(wire) = control.wire.as_mut() else {
            return;
        };
        if !wire.connected {
            match net::connected(&wire.stream) {
                Ok(true) => wire.connected = true,
                Ok(false) => return,
                Err(e) => return self.drop_control(j, format!("control connect: {}", e.kind())),
            }
        }
        net::quickack(&wire.stream);
        let mut responses = Vec::new();
        let end = wire.read_all(&mut self.scratch, usize::MAX, false, |buf, _| {
            let mut at = 0;
            while let Ok(Decoded::Done { value, consumed }) =
                crate::http::decode_response(&buf[at..], 1 << 24)
            {
                responses.push(value);
                at += consumed;
            }
            at
        });
        let flushed = wire.flush();
        for r in responses {
            let Some(i) = self.controls[j].busy.take() else {
                self.stats.error("control: response without a request");
                continue;
            };
            if r.status == 200 {
                self.subs[i].proto.phase = Phase::Ready;
                self.ready_queue.push_back(i);
            } else {
                self.fail_sub(i, format!("connect status {}", r.status));
            }
            if !r.keep_alive {
                return self.drop_control(j, String::new());
            }
        }
        match (end, flushed) {
            (ReadEnd::Open | ReadEnd::Budget, Ok(())) => {}
            (ReadEnd::Eof, Ok(())) => self.drop_control(j, "control: closed by server".into()),
            (ReadEnd::Error(k), _) => self.drop_control(j, format!("control read: {k}")),
            (_, Err(e)) => self.drop_control(j, format!("control write: {}", e.kind())),
        }
    }

    /// Closes a control connection; the subscriber it was registering fails (a
    /// `/connect` may or may not have happened, so it is not retried).
    fn drop_control(&mut self, j: usize, reason: String) {
        let control = &mut self.controls[j];
        if let Some(mut wire) = control.wire.take() {
            let _ = self.poll.registry().deregister(&mut wire.stream);
        }
        if let Some(i) = control.busy.take() {
            self.fail_sub(i, reason);
        } else if !reason.is_empty()
            && self.closing_since.is_none()
            && !self.register_queue.is_empty()
        {
            self.stats.error(reason);
        }
    }
}
