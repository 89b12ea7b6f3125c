//! The mock Codex backend (raw TcpListener, keep-alive, one thread per connection, accepts
//! counted) and the byte relay that can stand in the proxy's place.

use super::*;

pub(super) fn start_mock() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the mock");
    let addr = listener.local_addr().expect("mock address");
    spawn("mock-accept", move || {
        for stream in listener.incoming().flatten() {
            MOCK_ACCEPTS.fetch_add(1, Relaxed);
            spawn("mock-conn", move || {
                let _ = serve(stream);
            });
        }
    });
    addr
}

pub(super) fn serve(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    let mut cpu = CpuMeter::new();
    while let Some((line, headers)) = read_head(&mut r)? {
        let mut body = Vec::new();
        if header(&headers, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            while let Some(c) = read_chunk(&mut r)? {
                body.extend(c);
            }
        } else if let Some(n) =
            header(&headers, "content-length").and_then(|v| v.parse::<usize>().ok())
        {
            body.resize(n, 0);
            r.read_exact(&mut body)?;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("");
        if path.contains("/models") {
            let slugs = ["gpt-5.6-sol", "gpt-5.6-terra", "gpt-5.6-luna"];
            let models: Vec<_> = slugs
                .iter()
                .map(|s| {
                    serde_json::json!({"slug": s, "supported_reasoning_levels":
                [{"effort": "low"}, {"effort": "medium"}, {"effort": "high"}]})
                })
                .collect();
            let json = serde_json::json!({ "models": models }).to_string();
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
                json.len()
            )?;
        } else if path.contains("/oauth") {
            out.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")?;
        } else {
            let (n, gap) = workload_in(&body);
            stream_reply(&mut out, n, gap)?;
        }
        cpu.charge(&MOCK_CPU_NS);
    }
    Ok(())
}

/// The client puts `bench n=N gap_us=G` in its prompt; the proxy passes it through unchanged.
pub(super) fn workload_in(body: &[u8]) -> (usize, Duration) {
    let text = String::from_utf8_lossy(body);
    let num = |key: &str| -> u64 {
        // The last one: a long history may quote the bench's own source.
        let Some(at) = text.rfind(key) else { return 0 };
        text[at + key.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or(0)
    };
    (
        num("bench n=") as usize,
        Duration::from_micros(num("gap_us=")),
    )
}

/// Appends one SSE event as one HTTP chunk.
pub(super) fn push_event(buf: &mut Vec<u8>, name: &str, data: &str) {
    let len = format!("event: {name}\ndata: {data}\n\n").len();
    let _ = write!(buf, "{len:x}\r\nevent: {name}\ndata: {data}\n\n\r\n");
}

/// With a gap, every event is written (and so flushed: TCP_NODELAY) on its own; back to back
/// (gap 0), events go out in 16 KiB writes, as a fast TLS upstream's would arrive, so that the
/// mock is not what limits the throughput figures.
pub(super) fn stream_reply(out: &mut TcpStream, n: usize, gap: Duration) -> io::Result<()> {
    let mut buf =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    push_event(
        &mut buf,
        "response.created",
        r#"{"type":"response.created","response":{"id":"r"}}"#,
    );
    push_event(
        &mut buf,
        "response.output_item.added",
        r#"{"type":"response.output_item.added","output_index":0,"item":{"id":"msg_1","type":"message","role":"assistant","content":[]}}"#,
    );
    for i in 0..n {
        if !gap.is_zero() || buf.len() >= 16 << 10 {
            out.write_all(&buf)?;
            buf.clear();
        }
        if i > 0 && !gap.is_zero() {
            thread::sleep(gap);
        }
        let data = format!(
            r#"{{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"@{}"}}"#,
            now_ns()
        );
        push_event(&mut buf, "response.output_text.delta", &data);
    }
    push_event(
        &mut buf,
        "response.output_item.done",
        r#"{"type":"response.output_item.done","output_index":0,"item":{"id":"msg_1","type":"message","role":"assistant","content":[]}}"#,
    );
    let done = format!(
        r#"{{"type":"response.completed","response":{{"id":"r","usage":{{"input_tokens":10,"output_tokens":{n},"total_tokens":{}}}}}}}"#,
        10 + n
    );
    push_event(&mut buf, "response.completed", &done);
    buf.extend_from_slice(b"0\r\n\r\n");
    out.write_all(&buf)
}

/// A byte relay in the proxy's place: each connection to it is copied both ways, unread, to
/// `to` (64 KiB reads, as the proxy's), on two threads of this process. Its throughput is the
/// most any proxy can reach on this machine: the cost of the extra hop itself.
pub(super) fn start_relay(to: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
    let addr = listener.local_addr().expect("relay address");
    spawn("relay-accept", move || {
        for client in listener.incoming().flatten() {
            let Ok(upstream) = TcpStream::connect(to) else {
                continue;
            };
            let _ = (client.set_nodelay(true), upstream.set_nodelay(true));
            let (Ok(client_out), Ok(upstream_out)) = (client.try_clone(), upstream.try_clone())
            else {
                continue;
            };
            spawn("relay-up", move || copy(client, upstream_out));
            spawn("relay-down", move || copy(upstream, client_out));
        }
    });
    addr
}

pub(super) fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0; 64 << 10];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}
