//! The ini file `make-config` writes: every key with its value and a one-line comment,
//! in a form both this reader and Python's `configparser` read back to the same values.

use super::keys::{self, Key};

/// Keys whose value is a list, written one item per line.
const LIST_KEYS: &[&str] = &["allow_posting_from", "allow_cors"];

/// Indent of continuation lines.
const INDENT: &str = "    ";

/// Renders `values` (every key, in table order) as a commented ini file.
pub(crate) fn render(values: &[(&'static Key, String)]) -> String {
    let mut s = String::from(concat!(
        "# channelstream settings, as written by `channelstream make-config`.\n",
        "# Later wins: defaults < this file < CHANNELSTREAM_<KEY> environment variables\n",
        "# < command-line flags. Booleans: true/false. Lists: comma or newline separated,\n",
        "# continuation lines indented. A literal % is written %%.\n",
        "\n[channelstream]\n",
    ));
    for (key, value) in values {
        s.push_str("\n# ");
        s.push_str(key.help);
        s.push('\n');
        s.push_str(key.name);
        s.push_str(" =");
        let value = if LIST_KEYS.contains(&key.name) {
            keys::list(value).join(&format!(",\n{INDENT}"))
        } else {
            value.replace('\n', &format!("\n{INDENT}"))
        };
        if !value.is_empty() {
            s.push(' ');
            s.push_str(&value.replace('%', "%%"));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ini;

    #[test]
    fn lists_render_as_continuation_lines_and_percent_is_escaped() {
        let port = keys::find("allow_posting_from").expect("key");
        let secret = keys::find("secret").expect("key");
        let text = render(&[(port, "1.1.1.1, 2.2.2.2".into()), (secret, "a%b".into())]);
        assert!(
            text.contains("allow_posting_from = 1.1.1.1,\n    2.2.2.2\n"),
            "{text}"
        );
        let entries = ini::read_section(&text, "channelstream")
            .expect("ini")
            .expect("section");
        assert_eq!(entries[0].value, "1.1.1.1,\n2.2.2.2");
        assert_eq!(entries[1].value, "a%b");
    }
}
