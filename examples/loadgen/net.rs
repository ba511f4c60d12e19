//! Opening client sockets: non-blocking connect, optionally from a chosen source
//! address. Binding before connecting is what lets a run open more connections than
//! one source address has ephemeral ports (about 28 000 with Linux defaults) towards
//! one server port. std and mio cannot bind before connecting, so the socket is built
//! with `socket2` (a dev-dependency) instead of raw libc calls: no unsafe code here.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};

/// Starts a non-blocking connect to `to`, from `from` (port chosen by the kernel) if
/// given. The connect completes later: wait for writability, then `connected`.
pub fn connect(to: SocketAddr, from: Option<IpAddr>) -> io::Result<mio::net::TcpStream> {
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_nodelay(true)?;
    if let Some(ip) = from {
        socket.bind(&SockAddr::from(SocketAddr::new(ip, 0)))?;
    }
    match socket.connect(&SockAddr::from(to)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}

/// After a writable event: `Ok(true)` once connected, `Ok(false)` while the handshake
/// is still going (a spurious event), `Err` if it failed (mio's documented check).
pub fn connected(stream: &mio::net::TcpStream) -> io::Result<bool> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Asks Linux to acknowledge at once instead of delaying ACKs (TCP_QUICKACK; the kernel
/// clears it again by itself, so it is re-armed after each read). Request/response
/// connections need it: a server that writes a response's head and body in two sends
/// (the reference's gevent does) would otherwise wait for our delayed ACK (~40 ms,
/// Nagle's algorithm on its side) before the body leaves, and the tool would measure
/// that interaction instead of the server.
pub fn quickack(stream: &mio::net::TcpStream) {
    let _ = socket2::SockRef::from(stream).set_quickack(true);
}
