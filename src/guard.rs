//! Who may talk to the proxy, judged from the request head alone (a pure function; `server`
//! calls it before routing). The proxy answers API clients — Claude Code, the Anthropic SDKs,
//! curl — none of which sends `Origin`, and all of which reach it under a local address. A web
//! page is different: its browser adds `Origin`, and with DNS rebinding it can even make its own
//! host name resolve to 127.0.0.1, which shows in `Host`. So (README "Browsers and other local
//! programs"):
//!
//! - `Host` must name this machine: `localhost`, a loopback address, the address the proxy is
//!   bound to (any IP address when bound to a wildcard), or a name from `--allow-host`. The port
//!   is not compared (an SSH tunnel or a container port mapping may change it). A request
//!   without `Host` (HTTP/1.0) passes: browsers always send one.
//! - `Origin`, when present, must be the proxy's own origin (`http://` + the allowed `Host`) or
//!   listed in `--allow-origin`. `Origin: null` (sandboxed frames, files) is refused.
//! - A `POST` body must be declared JSON (`Content-Type: application/json`, parameters allowed):
//!   a page can send `text/plain`, form or untyped bodies anywhere without asking, but not JSON.
//!
//! `*` in either list turns that check off (for a reverse proxy that rewrites everything).

use std::net::IpAddr;

use crate::error::Error;

/// The allow-lists, fixed at start.
#[derive(Debug, Clone, Default)]
pub struct Allow {
    /// Extra `Host` names, lower case, without port.
    hosts: Vec<String>,
    /// Extra origins, normalised (see [`normalise_origin`]).
    origins: Vec<String>,
    any_host: bool,
    any_origin: bool,
    /// The address the listener is bound to.
    bound: Option<IpAddr>,
}

impl Allow {
    /// `hosts` and `origins` as configured (`--allow-host`, `--allow-origin`); `bound` is the
    /// listener's address.
    pub fn new(hosts: &[String], origins: &[String], bound: Option<IpAddr>) -> Allow {
        Allow {
            any_host: hosts.iter().any(|h| h == "*"),
            any_origin: origins.iter().any(|o| o == "*"),
            hosts: hosts
                .iter()
                .filter(|h| *h != "*")
                .map(|h| host_name(h).to_owned())
                .collect(),
            origins: origins
                .iter()
                .filter(|o| *o != "*")
                .map(|o| normalise_origin(o))
                .collect(),
            bound,
        }
    }
}

/// Checks one request: its method and its headers (name, value), in any case.
pub fn check(method: &str, headers: &[(&str, &str)], allow: &Allow) -> Result<(), Error> {
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    };
    let hosts: Vec<&str> = values("host").collect();
    if hosts.len() > 1 {
        return Err(refused_host(&hosts.join(", "), "more than one Host header"));
    }
    let host = hosts.first().copied();
    if let Some(h) = host
        && !host_allowed(h, allow)
    {
        return Err(refused_host(h, "not an address of this machine"));
    }
    for origin in values("origin") {
        if !origin_allowed(origin, host, allow) {
            return Err(Error::Permission(format!(
                "refused a request from the web page at {origin}: web pages may not use this proxy \
                 (it would spend your ChatGPT subscription). To allow this origin, start the proxy \
                 with --allow-origin {origin} (or PROXY_ALLOW_ORIGINS)"
            )));
        }
    }
    if method.eq_ignore_ascii_case("POST") {
        let content_type = values("content-type").next();
        if !content_type.is_some_and(is_json) {
            let got = content_type.map_or("none".to_owned(), |c| format!("'{c}'"));
            return Err(Error::BadRequest(format!(
                "the request body must be JSON sent with Content-Type: application/json (got {got}); \
                 with curl add -H 'content-type: application/json'"
            )));
        }
    }
    Ok(())
}

fn refused_host(host: &str, why: &str) -> Error {
    Error::Permission(format!(
        "refused a request for Host '{host}' ({why}; a web page using DNS rebinding looks like \
         this). If you reach the proxy under this name, e.g. through your own reverse proxy or a \
         container name, start it with --allow-host {} (or PROXY_ALLOW_HOSTS)",
        host_name(host)
    ))
}

fn host_allowed(host: &str, allow: &Allow) -> bool {
    if allow.any_host {
        return true;
    }
    let name = host_name(host);
    if name.is_empty() {
        return false;
    }
    match name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        // An address literal cannot be rebound: the browser connects where it says.
        Ok(ip) => {
            ip.is_loopback()
                || allow
                    .bound
                    .is_some_and(|b| b == ip || b.is_unspecified() || ip.to_canonical() == b)
        }
        Err(_) => name == "localhost" || allow.hosts.contains(&name),
    }
}

/// The host part of a `Host` value (or of an `--allow-host` entry), lower case, without the
/// port and a trailing dot; IPv6 literals keep their brackets.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.find(']') {
            Some(i) => &host[..i + 2],
            None => host,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn origin_allowed(origin: &str, host: Option<&str>, allow: &Allow) -> bool {
    if allow.any_origin {
        return true;
    }
    let origin = normalise_origin(origin);
    if allow.origins.contains(&origin) {
        return true;
    }
    // The proxy's own origin (a page it served, or the user's browser console on it). `Host`
    // has passed its own check by now.
    host.is_some_and(|h| {
        let h = h.to_ascii_lowercase();
        origin == format!("http://{h}") || origin == format!("https://{h}")
    })
}

/// Lower case, without a trailing `/`.
fn normalise_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

fn is_json(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Checks an `--allow-origin` entry: `*` or `scheme://host[:port]`.
pub fn valid_origin(entry: &str) -> bool {
    entry == "*"
        || entry.split_once("://").is_some_and(|(scheme, rest)| {
            !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                && !rest.trim_end_matches('/').is_empty()
                && !rest.trim_end_matches('/').contains('/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    fn allow() -> Allow {
        Allow::new(&[], &[], LOOP)
    }

    fn post(headers: &[(&str, &str)], allow: &Allow) -> Result<(), Error> {
        check("POST", headers, allow)
    }

    const JSON: (&str, &str) = ("Content-Type", "application/json");

    #[test]
    fn api_clients_pass() {
        // Claude Code and the SDKs: Host with the port, JSON, no Origin.
        assert!(post(&[("Host", "127.0.0.1:8082"), JSON], &allow()).is_ok());
        assert!(post(&[("host", "localhost:8082"), JSON], &allow()).is_ok());
        assert!(post(&[("Host", "[::1]:8082"), JSON], &allow()).is_ok());
        assert!(
            post(&[("Host", "LOCALHOST.")], &allow()).is_err(),
            "no JSON"
        );
        assert!(
            post(
                &[
                    ("Host", "127.0.0.2"),
                    ("content-type", "Application/JSON; charset=utf-8")
                ],
                &allow()
            )
            .is_ok()
        );
        // HTTP/1.0 without Host; GET needs no Content-Type.
        assert!(post(&[JSON], &allow()).is_ok());
        assert!(check("GET", &[("Host", "localhost")], &allow()).is_ok());
    }

    #[test]
    fn rebinding_hosts_are_refused() {
        for host in [
            "attacker.example",
            "attacker.example:8082",
            "localhost.attacker.example",
            "127.0.0.1.nip.io",
            "10.0.0.1:8082",
            "",
        ] {
            let e = post(&[("Host", host), JSON], &allow()).unwrap_err();
            assert_eq!((e.status(), e.kind()), (403, "permission_error"), "{host}");
            assert!(e.to_string().contains("--allow-host"), "{e}");
        }
        let two = [("Host", "localhost"), ("Host", "evil.example"), JSON];
        assert!(post(&two, &allow()).is_err());
    }

    #[test]
    fn bound_address_and_configured_names() {
        let lan: IpAddr = "192.168.1.5".parse().unwrap();
        let a = Allow::new(&["Proxy.Internal:443".into()], &[], Some(lan));
        assert!(post(&[("Host", "192.168.1.5:8082"), JSON], &a).is_ok());
        assert!(post(&[("Host", "192.168.1.6:8082"), JSON], &a).is_err());
        assert!(post(&[("Host", "proxy.internal"), JSON], &a).is_ok());
        assert!(post(&[("Host", "other.internal"), JSON], &a).is_err());
        // A wildcard bind answers on every address of the machine; names still need listing.
        let any = Allow::new(&[], &[], Some("0.0.0.0".parse().unwrap()));
        assert!(post(&[("Host", "172.17.0.2:8082"), JSON], &any).is_ok());
        assert!(post(&[("Host", "[fd00::2]:8082"), JSON], &any).is_ok());
        assert!(post(&[("Host", "myhost:8082"), JSON], &any).is_err());
        let star = Allow::new(&["*".into()], &[], LOOP);
        assert!(post(&[("Host", "anything.example"), JSON], &star).is_ok());
    }

    #[test]
    fn web_pages_are_refused() {
        let h = ("Host", "127.0.0.1:8082");
        for origin in ["https://evil.example", "null", "http://localhost:3000"] {
            let e = post(&[h, ("Origin", origin), JSON], &allow()).unwrap_err();
            assert_eq!(e.status(), 403, "{origin}");
            assert!(e.to_string().contains("--allow-origin"), "{e}");
            // GETs too: a page must not read /usage or /health either.
            assert!(check("GET", &[h, ("Origin", origin)], &allow()).is_err());
        }
        // The proxy's own origin is fine.
        assert!(post(&[h, ("Origin", "http://127.0.0.1:8082"), JSON], &allow()).is_ok());
        let a = Allow::new(&[], &["http://localhost:3000/".into()], LOOP);
        assert!(post(&[h, ("Origin", "HTTP://localhost:3000"), JSON], &a).is_ok());
        assert!(post(&[h, ("Origin", "http://localhost:3001"), JSON], &a).is_err());
        let star = Allow::new(&[], &["*".into()], LOOP);
        assert!(post(&[h, ("Origin", "https://evil.example"), JSON], &star).is_ok());
    }

    #[test]
    fn simple_request_bodies_are_refused() {
        let h = ("Host", "127.0.0.1:8082");
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
        ] {
            let e = post(&[h, ("Content-Type", ct)], &allow()).unwrap_err();
            assert_eq!(
                (e.status(), e.kind()),
                (400, "invalid_request_error"),
                "{ct}"
            );
            assert!(e.to_string().contains("application/json"), "{e}");
        }
        let e = post(&[h], &allow()).unwrap_err();
        assert!(e.to_string().contains("(got none)"), "{e}");
    }

    #[test]
    fn host_names_parse() {
        assert_eq!(host_name("LocalHost:8082"), "localhost");
        assert_eq!(host_name("[::1]:8082"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(host_name("example.com."), "example.com");
        assert_eq!(host_name("a:b"), "a:b");
    }

    #[test]
    fn origin_entries_are_validated() {
        assert!(valid_origin("*"));
        assert!(valid_origin("https://chat.example.com"));
        assert!(valid_origin("http://localhost:3000/"));
        assert!(!valid_origin("chat.example.com"));
        assert!(!valid_origin("https://chat.example.com/path"));
        assert!(!valid_origin("https://"));
    }
}
