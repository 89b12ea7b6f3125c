//! The long-session workload's request: what Claude Code sends after an hour of work, built from
//! the shapes in `tests/fixtures/claude-code/`: its system prompt, 30 tools (the 24 the captures
//! offer, plus MCP-style ones), the first user message with its reminders, then turns of text and
//! tool calls (Read with a file's numbered lines, Bash with command output, Edit) until the body
//! reaches the wanted size; the last user message carries the bench's prompt.

use serde_json::{Value, json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/claude-code");
/// File contents for the Read results: this repository's own sources and tests.
const SOURCES: [&str; 3] = [
    concat!(env!("CARGO_MANIFEST_DIR"), "/src"),
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests"),
    concat!(env!("CARGO_MANIFEST_DIR"), "/examples"),
];

fn fixture(name: &str) -> Value {
    let path = format!("{FIXTURES}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str::<Value>(&text).expect("fixture JSON")["body"].take()
}

/// Every tool any capture offers, by name, in first-seen order; then MCP-style copies up to 30.
fn tools() -> Vec<Value> {
    let mut tools: Vec<Value> = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(FIXTURES)
        .expect("fixtures")
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".request.json"))
        .collect();
    names.sort();
    names.insert(0, "16-no-experimental-betas.turn1.request.json".into());
    for name in names {
        let body = fixture(&name);
        for tool in body["tools"].as_array().into_iter().flatten() {
            if !tools.iter().any(|t| t["name"] == tool["name"]) {
                tools.push(tool.clone());
            }
        }
    }
    let mcp = [
        (
            "github",
            "create_issue",
            "Create an issue in a GitHub repository.",
        ),
        (
            "github",
            "list_pull_requests",
            "List pull requests of a repository, newest first.",
        ),
        (
            "github",
            "get_file_contents",
            "Read a file from a repository at a given ref.",
        ),
        (
            "postgres",
            "query",
            "Run a read-only SQL query against the project database.",
        ),
        (
            "sentry",
            "search_issues",
            "Search recent error events by message, release or tag.",
        ),
        (
            "linear",
            "update_ticket",
            "Change a ticket's state, assignee, labels or estimate.",
        ),
    ];
    for (server, tool, what) in mcp.iter().take(30usize.saturating_sub(tools.len())) {
        tools.push(json!({
            "name": format!("mcp__{server}__{tool}"),
            "description": format!("{what} (MCP server `{server}`.) Returns JSON; errors name the field at fault."),
            "input_schema": {"type": "object", "$schema": "http://json-schema.org/draft-07/schema#",
                "additionalProperties": false, "required": ["owner", "repo"],
                "properties": {
                    "owner": {"type": "string", "description": "Repository owner (user or organization)"},
                    "repo": {"type": "string", "description": "Repository name"},
                    "query": {"type": "string", "description": "Free text; supports field:value filters"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "description": "Most results to return"}}}
        }));
    }
    tools
}

/// The repository's source files (path, text).
fn files() -> Vec<(String, String)> {
    let mut paths = Vec::new();
    let mut dirs: Vec<std::path::PathBuf> = SOURCES.iter().map(Into::into).collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("sources").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("source file");
            let rel = p.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&p);
            (rel.display().to_string(), text)
        })
        .collect()
}

/// Lines of `text` from `offset` on, as Claude Code's Read tool returns them (`N\tline`, at
/// most 2,000 lines): later passes over the files read other parts, so no result repeats.
fn read(text: &str, offset: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let from = offset % lines.len().max(1);
    lines[from..]
        .iter()
        .take(2000)
        .enumerate()
        .map(|(i, l)| format!("{}\t{l}\n", from + i + 1))
        .collect()
}

/// A Claude Code request body of at least `size` bytes whose last user message is `prompt`.
pub fn history(size: usize, prompt: &str) -> String {
    let mut body = fixture("16-no-experimental-betas.turn1.request.json");
    body["tools"] = Value::Array(tools());
    let mut messages = body["messages"].as_array().cloned().unwrap_or_default();
    // The first user message: keep its reminders, drop its prompt text.
    messages.truncate(1);
    messages[0]["content"]
        .as_array_mut()
        .expect("content blocks")
        .retain(|b| {
            b["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("<system-reminder>"))
        });
    messages[0]["content"]
        .as_array_mut()
        .expect("content blocks")
        .push(json!({"type": "text", "text": "Review the proxy's sources for places that copy the request body, then tighten them."}));
    let files = files();
    let mut bytes = serde_json::to_string(&body).map_or(0, |s| s.len());
    let mut turn = 0usize;
    while bytes < size {
        let (path, source) = &files[turn % files.len()];
        let text = &read(source, 17 * (turn / files.len()));
        let id = format!("toolu_01{:022x}", turn as u64 * 0x9E37_79B9 + 7);
        let (call, result) = match turn % 6 {
            4 => (
                json!({"type": "tool_use", "id": id, "name": "Bash",
                       "input": {"command": format!("git diff --stat HEAD~{turn} -- {path}"), "description": "Show what changed"}}),
                json!({"type": "tool_result", "tool_use_id": id,
                       "content": format!(" {path} | {} +++++++++-----\n 1 file changed, {} insertions(+), {} deletions(-)\n", turn % 40 + 3, turn % 30 + 2, turn % 11)}),
            ),
            5 => (
                json!({"type": "tool_use", "id": id, "name": "Edit",
                       "input": {"file_path": format!("/home/user/project/{path}"),
                                 "old_string": text.lines().nth(3).unwrap_or("").split_once('\t').map_or("", |l| l.1),
                                 "new_string": "// reviewed: no copy of the body here", "replace_all": false}}),
                json!({"type": "tool_result", "tool_use_id": id,
                       "content": format!("The file /home/user/project/{path} has been updated successfully.")}),
            ),
            _ => (
                json!({"type": "tool_use", "id": id, "name": "Read",
                       "input": {"file_path": format!("/home/user/project/{path}")}}),
                json!({"type": "tool_result", "tool_use_id": id, "content": text}),
            ),
        };
        let note = format!("Next, `{path}`: it handles part of the request path.");
        let assistant =
            json!({"role": "assistant", "content": [{"type": "text", "text": note}, call]});
        let user = json!({"role": "user", "content": [result]});
        bytes += assistant.to_string().len() + user.to_string().len() + 2;
        messages.push(assistant);
        messages.push(user);
        turn += 1;
    }
    messages.push(json!({"role": "user", "content": [{"type": "text", "text": prompt}]}));
    body["messages"] = Value::Array(messages);
    body["stream"] = json!(true);
    serde_json::to_string(&body).expect("history JSON")
}

/// A request whose one tool input is a JSON array of `size` bytes of zeros: `[0,0,…]`.
pub fn zeros(size: usize, prompt: &str) -> String {
    let zeros = format!("[0{}]", ",0".repeat(size.saturating_sub(3) / 2));
    format!(
        r#"{{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[
{{"role":"user","content":"Store this."}},
{{"role":"assistant","content":[{{"type":"tool_use","id":"toolu_01zeros","name":"Write","input":{{"file_path":"/tmp/z","data":{zeros}}}}}]}},
{{"role":"user","content":[{{"type":"tool_result","tool_use_id":"toolu_01zeros","content":"ok"}},{{"type":"text","text":"{prompt}"}}]}}]}}"#
    )
}
