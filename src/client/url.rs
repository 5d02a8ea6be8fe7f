//! The one parser of daemon URLs, `http://HOST[:PORT][/]` (RFC 3986 §3.2), and the daemon's
//! default TCP port. Every place that takes a URL (`--url`, `PATINA_URL`, `patina auth pin`,
//! mother's peers, the pins in `auth/known_servers`) goes through [`DaemonUrl::parse`].
//! Depends on nothing but std.

/// The TCP port of a daemon when a URL (or `patina serve --host`) names none.
pub const DEFAULT_PORT: u16 = 50051;

/// A daemon's address as a URL names it: host and port, nothing else (no user info, path,
/// query or fragment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonUrl {
    /// The host as written: a name, an IPv4 address or a bracketed IPv6 address (`[::1]`).
    pub host: String,
    /// The port; [`DEFAULT_PORT`] when the URL has none or an empty one (RFC 3986 §6.2.3:
    /// an empty port is the same as none).
    pub port: u16,
    /// True when the URL wrote a port.
    pub explicit_port: bool,
}

/// Why a URL is not a daemon URL. The message never quotes the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a daemon URL looks like http://HOST:PORT")]
pub struct UrlError;

impl DaemonUrl {
    /// Parses `http://HOST[:PORT][/]`. Errors for another scheme, an empty host, a port that
    /// is not a decimal number of at most 65535, or anything after the authority but one `/`.
    pub fn parse(url: &str) -> Result<DaemonUrl, UrlError> {
        let rest = url.strip_prefix("http://").ok_or(UrlError)?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty()
            || authority.contains(['/', '@', '?', '#', '\\'])
            || authority.contains(char::is_whitespace)
            || authority.contains(char::is_control)
        {
            return Err(UrlError);
        }
        // A bracketed IPv6 literal has colons of its own: the port follows `]`.
        let (host, port) = match authority.rfind(']') {
            Some(end) => match &authority[end + 1..] {
                "" => (authority, None),
                tail => (
                    &authority[..=end],
                    Some(tail.strip_prefix(':').ok_or(UrlError)?),
                ),
            },
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            },
        };
        if host.is_empty() || (!host.starts_with('[') && host.contains([':', '[', ']'])) {
            return Err(UrlError);
        }
        let (port, explicit_port) = match port {
            None | Some("") => (DEFAULT_PORT, false),
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => {
                (p.parse::<u16>().map_err(|_| UrlError)?, true)
            }
            Some(_) => return Err(UrlError),
        };
        Ok(DaemonUrl {
            host: host.to_string(),
            port,
            explicit_port,
        })
    }

    /// `HOST:PORT`: what a connection resolves and what the `Host` header field carries.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// `http://HOST:PORT`, the port always written: the form pins are keyed by.
    pub fn normalized(&self) -> String {
        format!("http://{}", self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_port_is_the_default_port() {
        for url in [
            "http://host",
            "http://host/",
            "http://host:",
            "http://host:/",
        ] {
            let u = DaemonUrl::parse(url).unwrap();
            assert_eq!((u.host.as_str(), u.port), ("host", DEFAULT_PORT), "{url}");
            assert!(!u.explicit_port, "{url}");
            assert_eq!(u.normalized(), format!("http://host:{DEFAULT_PORT}"));
        }
    }

    #[test]
    fn an_explicit_port_is_kept() {
        let u = DaemonUrl::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(u.authority(), "127.0.0.1:8080");
        assert!(u.explicit_port);
        assert_eq!(DaemonUrl::parse("http://h:0").unwrap().port, 0);
        assert_eq!(DaemonUrl::parse("http://h:65535").unwrap().port, 65535);
    }

    #[test]
    fn bracketed_ipv6_hosts_keep_their_colons() {
        let u = DaemonUrl::parse("http://[::1]:7000").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[::1]", 7000));
        let u = DaemonUrl::parse("http://[::1]").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[::1]", DEFAULT_PORT));
        assert_eq!(
            DaemonUrl::parse("http://[::1]:").unwrap().port,
            DEFAULT_PORT
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "http://",
            "http:///",
            "https://host:1",
            "host:1",
            "http://:80",
            "http://host:port",
            "http://host:65536",
            "http://host:-1",
            "http://host:1/path",
            "http://user@host:1",
            "http://host:1?q",
            "http://host:1#f",
            "http://ho st:1",
            "http://::1",
            "http://[::1]x",
            "http://host:1//",
        ] {
            assert_eq!(DaemonUrl::parse(bad), Err(UrlError), "{bad:?}");
        }
    }
}
