//! Websockets through the real engine: echo, ping/pong, close handshake, protocol errors,
//! `send_many` across workers, shutdown. Talks through `tungstenite` and raw bytes.

mod engine_common;

use engine_common::*;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

/// One worker with a short idle timeout, for the silent-websocket tests.
fn start_with_idle_timeout(idle_timeout: Duration) -> Running {
    start(limits_with(|l| l.idle_timeout = idle_timeout), 1)
}

fn client(addr: SocketAddr) -> WebSocket<TcpStream> {
    let stream = connect(addr);
    let (ws, resp) = tungstenite::client(format!("ws://{addr}/ws"), stream).expect("handshake");
    assert_eq!(resp.status(), 101);
    ws
}

/// Reads until a close frame arrives; returns its code.
fn read_close(ws: &mut WebSocket<TcpStream>) -> Option<u16> {
    loop {
        match ws.read() {
            Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(e) => panic!("expected a close frame, got {e}"),
        }
    }
}

#[test]
fn websocket_echoes_text_and_binary_with_their_opcodes() {
    let server = start(limits(), 2);
    let mut ws = client(server.addr);
    ws.send(Message::Text("héllo".into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("héllo".into()));
    let big: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
    ws.send(Message::Binary(big.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Binary(big));
    drop(ws);
    server.stop().unwrap();
}

#[test]
fn ping_gets_pong_with_the_same_payload() {
    let server = start(limits(), 1);
    let mut ws = client(server.addr);
    ws.send(Message::Ping(b"are you there".to_vec())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Pong(b"are you there".to_vec()));
    drop(ws);
    server.stop().unwrap();
}

#[test]
fn close_handshake_echoes_the_code_and_the_app_hears_on_close() {
    let server = start(limits(), 1);
    let mut ws = client(server.addr);
    let frame = CloseFrame {
        code: CloseCode::from(4001),
        reason: "bye".into(),
    };
    ws.close(Some(frame)).unwrap();
    assert_eq!(read_close(&mut ws), Some(4001));
    drop(ws); // EOF ends the server's linger at once
    let id = server.app.upgraded.lock().unwrap()[0];
    wait_for("on_close", || {
        server.app.closed.lock().unwrap().contains(&id)
    });
    server.stop().unwrap();
}

#[test]
fn unmasked_frame_gets_close_1002_and_a_bystander_still_works() {
    let server = start(limits(), 1);
    let mut bystander = client(server.addr);
    let mut s = raw_ws(server.addr);
    s.write_all(b"\x81\x07no mask").unwrap(); // text "no mask", mask bit clear
    assert_close_then_eof(&mut s, 1002);
    bystander.send(Message::Text("still here".into())).unwrap();
    assert_eq!(
        bystander.read().unwrap(),
        Message::Text("still here".into())
    );
    drop((s, bystander));
    server.stop().unwrap();
}

#[test]
fn oversized_message_gets_close_1009() {
    let server = start(limits_with(|l| l.max_message = 1024), 1);
    let mut s = raw_ws(server.addr);
    s.write_all(&client_frame(0x2, &[7u8; 1025])).unwrap();
    assert_close_then_eof(&mut s, 1009);
    drop(s);
    server.stop().unwrap();
}

#[test]
fn raw_masked_text_is_echoed_and_client_close_is_answered_then_closed() {
    let server = start(limits(), 1);
    let mut s = raw_ws(server.addr);
    s.write_all(
        &[
            client_frame(0x1, b"Hello"),
            client_frame(0x8, &1000u16.to_be_bytes()),
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(read_frame(&mut s), (0x1, b"Hello".to_vec()));
    assert_close_then_eof(&mut s, 1000);
    drop(s);
    server.stop().unwrap();
}

#[test]
fn handshake_with_wrong_version_gets_426_before_the_app_sees_it() {
    let server = start(limits(), 1);
    let mut s = connect(server.addr);
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    )
    .unwrap();
    let r = read_response(&mut s, &mut Vec::new());
    assert_eq!(r.status, 426);
    assert_eq!(r.header("sec-websocket-version").as_deref(), Some("13"));
    assert_eq!(
        r.body,
        br#"{"error":"unsupported websocket version, use 13"}"#
    );
    assert!(closed_by_server(&mut s));
    assert!(
        server.app.upgraded.lock().unwrap().is_empty(),
        "the engine refused it; the app's on_request never ran"
    );
    drop(s);
    server.stop().unwrap();
}

#[test]
fn send_many_reaches_clients_on_both_workers() {
    let server = start(limits(), 2);
    let mut clients: Vec<_> = (0..3).map(|_| client(server.addr)).collect();
    wait_for("3 upgrades", || {
        server.app.upgraded.lock().unwrap().len() == 3
    });
    let ids = server.app.upgraded.lock().unwrap().clone();
    let workers: std::collections::BTreeSet<u16> = ids.iter().map(|id| id.worker).collect();
    assert_eq!(workers.len(), 2, "round-robin spreads connections: {ids:?}");
    let frame = channelstream::ws::shared_frame(channelstream::ws::OpCode::Text, b"to everyone");
    server.handle.send_many(&ids, frame);
    for ws in &mut clients {
        assert_eq!(ws.read().unwrap(), Message::Text("to everyone".into()));
    }
    // A stale id (wrong generation) reaches no one.
    let stale = channelstream::server::ConnId {
        gen: ids[0].gen.wrapping_add(1),
        ..ids[0]
    };
    server.handle.send(
        stale,
        channelstream::ws::shared_frame(channelstream::ws::OpCode::Text, b"stale"),
    );
    clients[0].send(Message::Text("after".into())).unwrap();
    assert_eq!(clients[0].read().unwrap(), Message::Text("after".into()));
    drop(clients);
    server.stop().unwrap();
}

#[test]
fn shutdown_sends_close_1001_to_websockets_and_run_returns() {
    let server = start(limits(), 2);
    let mut a = client(server.addr);
    let mut b = client(server.addr);
    for ws in [&mut a, &mut b] {
        ws.get_mut()
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
    }
    server.handle.shutdown();
    assert_eq!(read_close(&mut a), Some(1001));
    assert_eq!(read_close(&mut b), Some(1001));
    drop((a, b));
    let app = server.app.clone();
    server.stop().expect("Server::run returns Ok");
    assert_eq!(app.shutdowns.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        app.closed.lock().unwrap().len(),
        2,
        "on_close once per websocket"
    );
}

#[test]
fn silent_websocket_is_pinged_then_closed_1001_if_it_never_answers() {
    let server = start_with_idle_timeout(Duration::from_millis(300));
    let mut s = raw_ws(server.addr);
    let t0 = std::time::Instant::now();
    let (op, _) = read_frame(&mut s);
    assert_eq!(op, 0x9, "a ping at half the idle timeout");
    assert!(
        t0.elapsed() >= Duration::from_millis(120),
        "not before half the timeout"
    );
    let (op, payload) = read_frame(&mut s);
    assert_eq!((op, close_code(&payload)), (0x8, Some(1001)));
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "not before the timeout"
    );
    assert!(closed_by_server(&mut s));
    drop(s);
    server.stop().unwrap();
}

#[test]
fn silent_websocket_that_answers_pings_stays_open_past_the_idle_timeout() {
    let server = start_with_idle_timeout(Duration::from_millis(300));
    let mut s = raw_ws(server.addr);
    let t0 = std::time::Instant::now();
    let mut pings = 0;
    while t0.elapsed() < Duration::from_millis(1200) {
        let (op, payload) = read_frame(&mut s);
        assert_eq!(op, 0x9, "only pings while the client answers them");
        pings += 1;
        s.write_all(&client_frame(0xA, &payload)).unwrap();
    }
    assert!(pings >= 4, "pinged every half timeout, got {pings}");
    s.write_all(&client_frame(0x1, b"still here")).unwrap();
    let (op, payload) = read_frame(&mut s);
    assert_eq!(
        (op, payload.as_slice()),
        (0x1, &b"still here"[..]),
        "echo after 4 idle periods"
    );
    drop(s);
    server.stop().unwrap();
}

#[test]
fn handle_close_sends_the_given_code() {
    let server = start(limits(), 2);
    let mut s = raw_ws(server.addr);
    wait_for("upgrade", || server.app.upgraded.lock().unwrap().len() == 1);
    let id = server.app.upgraded.lock().unwrap()[0];
    server.handle.close(id, 4000);
    assert_close_then_eof(&mut s, 4000);
    drop(s);
    server.stop().unwrap();
}

#[test]
fn a_panicking_message_handler_closes_with_1011_and_the_worker_lives() {
    let server = start(limits(), 1);
    let mut s = raw_ws(server.addr);
    s.write_all(&client_frame(0x1, b"panic")).unwrap();
    let (op, payload) = read_frame(&mut s);
    assert_eq!((op, close_code(&payload)), (0x8, Some(1011)));
    drop(s);
    let mut other = client(server.addr);
    other.send(Message::Text("ok".into())).unwrap();
    assert_eq!(other.read().unwrap(), Message::Text("ok".into()));
    drop(other);
    server.stop().unwrap();
}

#[test]
fn broadcasts_to_300_clients_arrive_complete_and_in_order() {
    let server = start(limits_with(|l| l.max_connections = 1000), 2);
    let mut socks: Vec<TcpStream> = (0..300).map(|_| raw_ws(server.addr)).collect();
    wait_for("300 upgrades", || {
        server.app.upgraded.lock().unwrap().len() == 300
    });
    let ids = server.app.upgraded.lock().unwrap().clone();
    for n in 0..20 {
        let text = format!("broadcast {n}");
        let frame =
            channelstream::ws::shared_frame(channelstream::ws::OpCode::Text, text.as_bytes());
        server.handle.send_many(&ids, frame);
    }
    for s in &mut socks {
        for n in 0..20 {
            assert_eq!(read_frame(s), (0x1, format!("broadcast {n}").into_bytes()));
        }
    }
    drop(socks);
    server.stop().unwrap();
}

#[test]
fn a_client_that_does_not_read_gets_close_1008_when_its_queue_is_full() {
    let limits = limits_with(|l| l.max_outbound = 256 * 1024);
    let server = start(limits, 1);
    let mut s = raw_ws(server.addr);
    wait_for("upgrade", || server.app.upgraded.lock().unwrap().len() == 1);
    let id = server.app.upgraded.lock().unwrap()[0];
    let frame =
        channelstream::ws::shared_frame(channelstream::ws::OpCode::Binary, &[9u8; 64 * 1024]);
    // Far more than socket buffers plus the queue hold while the client is not reading.
    for _ in 0..400 {
        server.handle.send(id, frame.clone());
    }
    wait_for("on_close", || {
        server.app.closed.lock().unwrap().contains(&id)
    });
    let mut last = (0, Vec::new());
    let mut frames = 0;
    while last.0 != 0x8 {
        last = read_frame(&mut s);
        frames += 1;
    }
    assert_eq!(close_code(&last.1), Some(1008));
    assert!(frames < 400, "some frames were dropped for the slow reader");
    drop(s);
    server.stop().unwrap();
}
