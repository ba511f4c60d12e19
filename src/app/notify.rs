//! The systemd readiness protocol (`sd_notify(3)`), without a crate: one datagram on the
//! unix socket named by `NOTIFY_SOCKET`, sent by `main` — `READY=1` once the server
//! listens with its state loaded, `RELOADING=1`/`READY=1` around a `SIGHUP` reload,
//! `STOPPING=1` when shutdown begins. A name starting with `@` is a Linux abstract socket.
//! Without `NOTIFY_SOCKET` (not under `Type=notify`) nothing is sent.

use std::io;
use std::os::unix::net::UnixDatagram;

/// Sends `state` (e.g. `"READY=1"`) to the socket named by `NOTIFY_SOCKET`. `Ok(false)`
/// when the variable is unset.
pub fn notify(state: &str) -> io::Result<bool> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(path) => send_to(&path.to_string_lossy(), state).map(|()| true),
        None => Ok(false),
    }
}

/// Sends `state` to the notify socket `path` (a file path, or `@name` for an abstract one).
pub fn send_to(path: &str, state: &str) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            socket.send_to_addr(state.as_bytes(), &addr)?;
        }
        None => {
            socket.send_to(state.as_bytes(), path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_reaches_a_path_socket_and_an_abstract_one() {
        let dir = std::env::temp_dir().join(format!("cs-notify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).expect("bind");
        send_to(path.to_str().unwrap(), "READY=1").expect("send");
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("cs-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let abstract_listener = UnixDatagram::bind_addr(&addr).expect("bind abstract");
        send_to(&format!("@{name}"), "STOPPING=1").expect("send abstract");
        let n = abstract_listener.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"STOPPING=1");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
