//! RESP2 encoders. A command is an array of bulk strings, which Redis accepts for every
//! command and which needs no escaping: any bytes, including CR LF, go through.

use super::Reply;

/// Appends `args` (command name first) to `out` as `*N\r\n` then `$len\r\nbytes\r\n` each.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    header(b'*', args.len() as i64, out);
    for arg in args {
        let arg = arg.as_ref();
        header(b'$', arg.len() as i64, out);
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends `reply` as a server would send it. Nil is written `$-1`. Used by tests and the
/// fuzz target (`decode(encode(x)) == x`); the client never sends replies. A `Simple` or
/// `Error` holding CR or LF cannot be written in RESP2; they are written as given and
/// decode differently.
pub fn encode_reply(reply: &Reply, out: &mut Vec<u8>) {
    match reply {
        Reply::Simple(s) => line(b'+', s.as_bytes(), out),
        Reply::Error(s) => line(b'-', s.as_bytes(), out),
        Reply::Integer(n) => header(b':', *n, out),
        Reply::Bulk(bytes) => {
            header(b'$', bytes.len() as i64, out);
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        }
        Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
        Reply::Array(items) => {
            header(b'*', items.len() as i64, out);
            for item in items {
                encode_reply(item, out);
            }
        }
    }
}

fn header(kind: u8, n: i64, out: &mut Vec<u8>) {
    line(kind, n.to_string().as_bytes(), out);
}

fn line(kind: u8, text: &[u8], out: &mut Vec<u8>) {
    out.push(kind);
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_arrays_of_bulk_strings_appended_to_the_buffer() {
        let mut out = b"before".to_vec();
        encode_command(&["SET", "k", ""], &mut out);
        assert_eq!(out, b"before*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
        let mut out = Vec::new();
        encode_command(&[&b"PUBLISH"[..], b"c", b"a\r\nb\x00"], &mut out);
        assert_eq!(
            out,
            b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$5\r\na\r\nb\x00\r\n"
        );
    }

    #[test]
    fn replies_encode_as_redis_writes_them() {
        let reply = Reply::Array(vec![
            Reply::Simple("OK".into()),
            Reply::Error("ERR x".into()),
            Reply::Integer(-7),
            Reply::Bulk(b"hi".to_vec()),
            Reply::Nil,
            Reply::Array(vec![]),
        ]);
        let mut out = Vec::new();
        encode_reply(&reply, &mut out);
        assert_eq!(
            out,
            b"*6\r\n+OK\r\n-ERR x\r\n:-7\r\n$2\r\nhi\r\n$-1\r\n*0\r\n"
        );
    }
}
