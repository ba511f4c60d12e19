//! Query strings: percent-decoding (`application/x-www-form-urlencoded` flavour, so `+` is a
//! space) and parameter lookup. Pure string functions.

/// Percent-decodes `s` (`+` as space, as HTML forms send it). `None` on a malformed escape
/// or invalid UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex_value(*bytes.get(i + 1)?)?;
                let lo = hex_value(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The first value of `name` in a query string, percent-decoded.
///
/// Names are compared after decoding (`user%5Fid` matches `user_id`). A key without `=`
/// has the value `""`. `None` if the name is absent, or if the first match's value is not
/// valid percent-encoded UTF-8: a garbled value is not silently replaced by a later one.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(key, _)| percent_decode(key).as_deref() == Some(name))
        .and_then(|(_, value)| percent_decode(value))
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("", Some("")),
            ("plain", Some("plain")),
            ("a+b", Some("a b")),
            ("a%20b", Some("a b")),
            ("%2B%2b", Some("++")),
            ("100%25", Some("100%")),
            ("%C3%A9t%c3%a9", Some("été")),
            ("été", Some("été")),
            ("%E2%82%AC", Some("€")),
            ("%", None),
            ("%4", None),
            ("%zz", None),
            ("%4g", None),
            ("a%", None),
            ("%FF", None),
            ("%C3", None),
            ("%C3%28", None),
        ];
        for &(input, want) in cases {
            assert_eq!(percent_decode(input).as_deref(), want, "{input:?}");
        }
    }

    #[test]
    fn query_param_table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("conn_id=abc", "conn_id", Some("abc")),
            ("a=1&conn_id=x%20y&conn_id=second", "conn_id", Some("x y")),
            ("a=1&b=2", "c", None),
            ("", "a", None),
            ("flag&x=1", "flag", Some("")),
            ("flag=&x=1", "flag", Some("")),
            ("&&a=1&&", "a", Some("1")),
            ("user%5Fid=7", "user_id", Some("7")),
            ("a+b=c", "a b", Some("c")),
            ("a=b=c", "a", Some("b=c")),
            ("%zz=1&k=2", "k", Some("2")),
            ("k=%zz&k=2", "k", None),
            ("ab=1", "a", None),
        ];
        for &(query, name, want) in cases {
            assert_eq!(
                query_param(query, name).as_deref(),
                want,
                "{query:?} / {name:?}"
            );
        }
    }
}
