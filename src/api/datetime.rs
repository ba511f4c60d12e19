//! marshmallow 2's datetime parsing (`utils.from_iso`: its ISO 8601 pattern, then
//! dateutil) and Python's `isoformat()` of the result. Pure.

/// Parses `YYYY-M-D[T ]H:M[:S[.f]][Z|±HH[[:]MM]]` and formats it as Python does.
pub fn parse_iso(s: &str) -> Option<String> {
    let (date, rest) = s.split_at(s.find(['T', ' '])?);
    let rest = &rest[1..];
    let mut d = date.split('-');
    let (y, mo, da) = (
        num(d.next()?, 4, 4)?,
        num(d.next()?, 1, 2)?,
        num(d.next()?, 1, 2)?,
    );
    if d.next().is_some() {
        return None;
    }
    let tz_at = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (time, tz) = rest.split_at(tz_at);
    let (hms, frac) = match time.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (time, None),
    };
    let mut t = hms.split(':');
    let (h, mi) = (num(t.next()?, 1, 2)?, num(t.next()?, 1, 2)?);
    let sec = match t.next() {
        Some(x) => num(x, 1, 2)?,
        None if frac.is_none() => 0,
        None => return None,
    };
    if t.next().is_some() {
        return None;
    }
    let micros = match frac {
        None => 0,
        Some(f) if (1..=12).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
            let six: String = f.chars().chain("000000".chars()).take(6).collect();
            six.parse::<u32>().ok()?
        }
        Some(_) => return None,
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if y < 1 || !(1..=12).contains(&mo) || da < 1 || da > days[(mo - 1) as usize] {
        return None;
    }
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let offset = match tz {
        "" => String::new(),
        "Z" => "+00:00".into(),
        _ => {
            let (sign, digits) = tz.split_at(1);
            let digits = digits.replacen(':', "", 1);
            if !(digits.len() == 2 || digits.len() == 4)
                || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let (oh, om) = (
                &digits[..2],
                if digits.len() == 4 {
                    &digits[2..]
                } else {
                    "00"
                },
            );
            if oh.parse::<u32>().ok()? > 23 || om.parse::<u32>().ok()? > 59 {
                return None;
            }
            if sign == "-" && oh == "00" && om == "00" {
                "+00:00".into()
            } else {
                format!("{sign}{oh}:{om}")
            }
        }
    };
    let mut out = format!("{y:04}-{mo:02}-{da:02}T{h:02}:{mi:02}:{sec:02}");
    if micros != 0 {
        out.push_str(&format!(".{micros:06}"));
    }
    out.push_str(&offset);
    Some(out)
}

fn num(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_marshmallow_accepts_and_renders_like_python() {
        let cases: &[(&str, Option<&str>)] = &[
            ("2019-05-04T03:02:01Z", Some("2019-05-04T03:02:01+00:00")),
            (
                "2019-05-04T03:02:01.123456",
                Some("2019-05-04T03:02:01.123456"),
            ),
            ("2019-05-04 03:02", Some("2019-05-04T03:02:00")),
            ("2019-5-4T3:2:1+02", Some("2019-05-04T03:02:01+02:00")),
            (
                "2019-05-04T03:02:01.5-0130",
                Some("2019-05-04T03:02:01.500000-01:30"),
            ),
            ("2019-05-04T03:02:01.000000", Some("2019-05-04T03:02:01")),
            ("2019-05-04", None),
            ("bad", None),
            ("2019-02-30T00:00", None),
            ("2019-05-04T24:00", None),
            ("2019-05-04T03:02:01 ", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_iso(input).as_deref(), *want, "{input}");
        }
    }
}
