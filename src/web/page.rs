//! HTML answers: embedded templates with `{{name}}` slots filled with escaped text, and
//! the headers every page gets. Pure.
//!
//! The Content-Security-Policy allows scripts, styles and fetches from this server only
//! and no inline script at all, so even a hole in our escaping could not run a script;
//! the pages build their DOM with `textContent`, never `innerHTML` with data.

use crate::http::Response;

/// The admin pages' policy. Unlike [`super::CSP`] (landing page and demo), the sign-in
/// form posts to this server (`form-action 'self'`) and the pages show `data:` images.
pub const ADMIN_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// The sign-in form (`web/admin/sign_in.html`).
pub const SIGN_IN: &str = include_str!("../../web/admin/sign_in.html");
/// The admin panel (`web/admin/admin.html`).
pub const ADMIN: &str = include_str!("../../web/admin/admin.html");
/// The API explorer (`web/admin/explorer.html`).
pub const EXPLORER: &str = include_str!("../../web/admin/explorer.html");

/// Escapes text for HTML content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `template` with each `{{name}}` replaced by its value, escaped. Slots without a value
/// are left empty.
pub fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        if let Some((_, v)) = values.iter().find(|(n, _)| *n == name) {
            out.push_str(&escape(v));
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A page answer with the security headers; never cached (it may carry a CSRF token).
pub fn html(status: u16, body: String) -> Response {
    Response {
        status,
        headers: security_headers("text/html; charset=utf-8"),
        body: body.into_bytes(),
    }
}

/// The headers of every page and admin document.
pub fn security_headers(content_type: &str) -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), content_type.into()),
        ("Content-Security-Policy".into(), ADMIN_CSP.into()),
        ("X-Frame-Options".into(), "DENY".into()),
        ("Referrer-Policy".into(), "no-referrer".into()),
        ("Cache-Control".into(), "no-store".into()),
    ]
}

/// 302 to `location` (relative), with extra headers (cookies).
pub fn redirect(location: String, extra: Vec<(String, String)>) -> Response {
    let mut headers = vec![
        ("Location".to_string(), location),
        (
            "Content-Type".to_string(),
            "text/plain; charset=UTF-8".to_string(),
        ),
        ("Cache-Control".to_string(), "no-store".to_string()),
    ];
    headers.extend(extra);
    Response {
        status: 302,
        headers,
        body: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_filled_with_escaped_text() {
        let out = render(
            "<p>{{notice}}</p><input value=\"{{ token }}\">{{missing}}",
            &[
                ("notice", "<script>alert('x')</script>&"),
                ("token", "a\"b"),
            ],
        );
        assert_eq!(
            out,
            "<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</p><input value=\"a&quot;b\">"
        );
        assert_eq!(render("a {{ b", &[]), "a {{ b");
    }

    #[test]
    fn templates_have_no_inline_script_and_load_their_files() {
        for (name, t) in [
            ("sign_in", SIGN_IN),
            ("admin", ADMIN),
            ("explorer", EXPLORER),
        ] {
            assert!(t.contains("<meta name=\"viewport\""), "{name}");
            for tag in t.split("<script").skip(1) {
                let open = tag.split('>').next().unwrap_or("");
                assert!(open.contains("src="), "{name}: inline script {open}");
            }
            let handler = t.split(" on").skip(1).any(|rest| {
                let n = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
                n > 0 && rest[n..].starts_with('=')
            });
            assert!(!handler, "{name}: no inline event handlers");
            assert!(!t.contains("style="), "{name}: no inline styles");
        }
    }

    #[test]
    fn pages_carry_a_strict_policy() {
        let r = html(200, "x".into());
        let csp = r
            .headers
            .iter()
            .find(|(n, _)| n == "Content-Security-Policy")
            .map(|(_, v)| v.as_str());
        assert_eq!(csp, Some(ADMIN_CSP));
        assert!(!ADMIN_CSP.contains("unsafe"));
    }
}
