//! Names the field a request-parsing error is about: serde_json reports a wrong type as
//! "invalid type: string "nope", expected a sequence at line 1 column 18", which tells a client
//! where in the text, not which field. Only on that error path, [`describe`] walks the body up
//! to the error's position and turns it into `messages: expected an array, got a string
//! ("nope")`. Parsing itself stays a single serde pass.

/// The client-facing text of a `serde_json` error from parsing `body`: the field path and the
/// problem for a data error; the line and column for broken JSON.
pub fn describe(body: &[u8], e: &serde_json::Error) -> String {
    if !e.is_data() {
        return format!("the request body is not valid JSON: {e}");
    }
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let problem = reword(text.strip_suffix(&suffix).unwrap_or(&text));
    // Errors about a container as a whole point at its closing bracket.
    let whole = ["missing field", "invalid length", "duplicate field"]
        .iter()
        .any(|p| text.starts_with(p));
    let path = offset_of(body, e.line(), e.column())
        .map(|at| path_at(body, at, whole))
        .unwrap_or_default();
    if path.is_empty() {
        format!("request body: {problem}")
    } else {
        format!("{path}: {problem}")
    }
}

/// The byte index of serde_json's 1-based line and column (the column counts bytes; column 0
/// is just before the line's first byte).
fn offset_of(body: &[u8], line: usize, column: usize) -> Option<usize> {
    let start = if line <= 1 {
        0
    } else {
        body.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(line - 2)?
            .0
            + 1
    };
    Some(
        (start + column)
            .saturating_sub(1)
            .min(body.len().saturating_sub(1)),
    )
}

/// One open container on the way to the error.
enum Frame {
    /// An object, with the key whose value is being read.
    Object(Option<String>),
    /// An array, with the index of the element being read.
    Array(usize),
}

/// The path (`messages[0].content[1]`) of what the error at byte `at` of a JSON text is about.
///
/// serde_json points either at the last byte it read or at the next one: the offending token
/// itself, the `{`/`[` of a container of the wrong type, the `}`/`]` of a container that lacks
/// something (`whole`: "missing field", "invalid length"), or the byte just after a value it
/// first buffered and then rejected (internally tagged enums such as content blocks).
fn path_at(body: &[u8], at: usize, whole: bool) -> String {
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < body.len() && i <= at {
        match body[i] {
            // A container of the wrong type, or the value just before: the current path.
            b'{' | b'[' | b',' if i == at => break,
            b'}' | b']' if i == at => {
                if whole {
                    stack.pop();
                }
                break;
            }
            b'{' => stack.push(Frame::Object(None)),
            b'[' => stack.push(Frame::Array(0)),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array(n)) => *n += 1,
                Some(Frame::Object(key)) => *key = None,
                None => {}
            },
            b'"' => {
                let (s, end) = string_at(body, i);
                if let Some(Frame::Object(key @ None)) = stack.last_mut() {
                    *key = Some(s);
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object(Some(key)) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Object(None) => {}
            Frame::Array(n) => path.push_str(&format!("[{n}]")),
        }
    }
    path
}

/// The string starting with the quote at `start` (escapes kept as written; keys are plain) and
/// the index of its closing quote.
fn string_at(body: &[u8], start: usize) -> (String, usize) {
    let mut i = start + 1;
    while i < body.len() && body[i] != b'"' {
        i += if body[i] == b'\\' { 2 } else { 1 };
    }
    let end = i.min(body.len());
    let text = String::from_utf8_lossy(&body[(start + 1).min(end)..end]).into_owned();
    (text, end)
}

/// serde's "invalid type: X, expected Y" as "expected Y, got X", in JSON's words.
fn reword(problem: &str) -> String {
    // serde also accepts a struct as an array of its fields, and says so when one is short.
    if problem.starts_with("invalid length") && problem.contains("expected struct ") {
        return "expected an object, got an array".to_owned();
    }
    let Some((got, want)) = problem
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.rsplit_once(", expected "))
    else {
        return problem.to_owned();
    };
    format!("expected {}, got {}", json_kind(want), unexpected(got))
}

/// serde's name of an expected type, as JSON calls it.
fn json_kind(want: &str) -> String {
    match want {
        "a sequence" => "an array".to_owned(),
        "a map" => "an object".to_owned(),
        w if w.starts_with("struct ") => "an object".to_owned(),
        "u8" | "u16" | "u32" | "u64" | "usize" | "i32" | "i64" => "a whole number".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        w => w.to_owned(),
    }
}

/// serde's description of the value found, as JSON calls it (long strings shortened).
fn unexpected(got: &str) -> String {
    if let Some(s) = got.strip_prefix("string ") {
        let short: String = s.chars().take(40).collect();
        let more = if short.len() < s.len() { "…" } else { "" };
        return format!("a string ({short}{more})");
    }
    let quoted = |prefix: &str| got.strip_prefix(prefix).map(|v| v.trim_matches('`'));
    if let Some(v) = quoted("integer ").or_else(|| quoted("floating point ")) {
        return format!("a number ({v})");
    }
    if let Some(v) = quoted("boolean ") {
        return format!("a boolean ({v})");
    }
    match got {
        "map" => "an object".to_owned(),
        "sequence" => "an array".to_owned(),
        "unit value" => "null".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str) -> String {
        let e = serde_json::from_str::<crate::anthropic::Request>(body).unwrap_err();
        describe(body.as_bytes(), &e)
    }

    #[test]
    fn wrong_types_name_the_field() {
        assert_eq!(
            check(r#"{"model":"m","messages":"nope"}"#),
            r#"messages: expected an array, got a string ("nope")"#
        );
        assert_eq!(
            check(r#"{"model":"m","messages":{}}"#),
            "messages: expected an array, got an object"
        );
        assert_eq!(
            check(r#"{"model":7,"messages":[]}"#),
            "model: expected a string, got a number (7)"
        );
        // Content blocks are read whole before their type is known: the block is named.
        let deep = r#"{"model":"m","messages":[{"role":"user","content":"a"},
            {"role":"user","content":[{"type":"text","text":"x"},{"type":"text","text":5}]}]}"#;
        assert_eq!(
            check(deep),
            "messages[1].content[1]: expected a string, got a number (5)"
        );
        let middle = r#"{"model":"m","messages":[{"role":"user",
            "content":[{"type":"text","text":"x"},{"type":"text","text":5},{"type":"text","text":"y"}]}]}"#;
        assert!(
            check(middle).starts_with("messages[0].content[1]: "),
            "{}",
            check(middle)
        );
        let last =
            r#"{"model":"m","messages":[{"role":"user","content":[]}],"thinking":{"type":7}}"#;
        assert_eq!(
            check(last),
            "thinking.type: expected a string, got a number (7)"
        );
        assert_eq!(
            check(r#"{"model":"m","messages":[],"stream":"yes"}"#),
            r#"stream: expected a boolean, got a string ("yes")"#
        );
    }

    #[test]
    fn missing_fields_name_their_object() {
        assert_eq!(
            check(r#"{"messages":[]}"#),
            "request body: missing field `model`"
        );
        assert_eq!(
            check(r#"{"model":"m","messages":[{"content":"hi"}]}"#),
            "messages[0]: missing field `role`"
        );
        let role = check(r#"{"model":"m","messages":[{"role":"robot","content":"hi"}]}"#);
        assert!(
            role.starts_with("messages[0].role: unknown variant `robot`"),
            "{role}"
        );
    }

    #[test]
    fn broken_json_keeps_line_and_column() {
        assert_eq!(
            check("{\"model\":\n\"m\","),
            "the request body is not valid JSON: EOF while parsing a value at line 2 column 4"
        );
        assert_eq!(
            check("[]"),
            "request body: expected an object, got an array"
        );
    }

    #[test]
    fn long_strings_are_shortened_and_keys_with_escapes_survive() {
        let long = format!(r#"{{"model":"m","messages":"{}"}}"#, "x".repeat(500));
        assert!(check(&long).len() < 120, "{}", check(&long));
        assert!(check(r#"{"model":"m","a\"b":1,"messages":5}"#).starts_with("messages: "));
    }
}
