//! The request and response values that handlers see: no socket, no wire format.
//! Only [`crate::server`] (reading) and [`crate::client`] (writing) know HTTP/1.1 framing
//! (RFC 9112); this module knows methods, status codes and JSON bodies (RFC 9110).
//! Depends on `serde` and `serde_json` only.

use serde::Serialize;

/// Request methods patina routes (RFC 9110 §9). Any other method is `Other` and gets 405
/// (or 404) from the router; it is never echoed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD` (treated as an unsupported method: 405)
    Head,
    /// `POST`
    Post,
    /// `DELETE`
    Delete,
    /// Any other token.
    Other,
}

impl Method {
    /// Maps a request-line method token (case-sensitive, RFC 9110 §9.1) to a [`Method`].
    pub fn from_token(t: &str) -> Method {
        match t {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }

    /// The canonical token, for `Allow` header fields and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::Other => "OTHER",
        }
    }
}

/// A complete, bounded request as the transport handed it over.
///
/// `path` is the request target's path exactly as sent (no percent-decoding, no dot-segment
/// removal): routing matches it byte for byte, so an encoded or doubled spelling of a route
/// is simply another, unknown path (404).
#[derive(Debug, Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The path part of the request target (origin-form), up to `?`.
    pub path: String,
    /// The query part after `?`, if any, undecoded.
    pub query: Option<String>,
    /// The body: at most [`crate::limits::MAX_BODY_BYTES`] bytes, exactly `Content-Length` long.
    pub body: Vec<u8>,
    /// The request id: the client's `X-Request-Id` if short and plain, else generated.
    pub request_id: String,
}

impl Drop for Request {
    /// Wipes the body: it may carry an identity (`/session/unlock`) or a secret value
    /// (`/secrets/add`), and a freed heap block keeps its bytes until reused.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.body);
    }
}

/// A response value: status code, JSON body, and any extra header fields a handler needs
/// (`Allow`, `Retry-After`, `WWW-Authenticate`). The transport adds the fixed security
/// header fields, `Content-Length` and `Connection: close` to every response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Status code (RFC 9110 §15).
    pub status: u16,
    /// Extra header fields; names are static so no request text can become a name.
    pub headers: Vec<(&'static str, String)>,
    /// The body, always JSON.
    pub body: Vec<u8>,
}

/// The `{"error": "<message>"}` shape of every error body (requirements §4).
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// A message for people. It never quotes request content.
    pub error: String,
}

impl Response {
    /// A response with `value` serialized as the JSON body.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status,
                headers: Vec::new(),
                body,
            },
            Err(_) => Response::error(500, "could not encode the response"),
        }
    }

    /// An error response: `{"error": message}` with `status`.
    pub fn error(status: u16, message: impl Into<String>) -> Response {
        let body = serde_json::to_vec(&ErrorBody {
            error: message.into(),
        })
        .unwrap_or_else(|_| br#"{"error":"internal error"}"#.to_vec());
        Response {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// Adds a header field (builder style).
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

/// The reason phrase for the status codes patina sends (RFC 9110 §15).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Deserializes a JSON request body into `T`, mapping every failure to a 400 whose message
/// names the problem and its position but never quotes the input (serde_json's own messages
/// do quote values: `invalid type: string "…"`).
///
/// Every request body of the API is a JSON object: anything else (an array, which serde would
/// otherwise accept for a struct, a string, a number) is refused.
pub fn parse_json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(Response::error(400, "the body must be a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        let what = match e.classify() {
            Category::Io => "could not read the body",
            Category::Syntax => "the body is not valid JSON",
            Category::Eof => "the body ends before the JSON does",
            Category::Data => "the body's JSON does not have the expected fields and types",
        };
        Response::error(
            400,
            format!("{what} (line {}, column {})", e.line(), e.column()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_never_quote_the_value() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Q {
            limit: usize,
        }
        let r = parse_json_body::<Q>(br#"{"limit": "Pc4n4ry-value"}"#).unwrap_err();
        assert_eq!(r.status, 400);
        let body = String::from_utf8(r.body).unwrap();
        assert!(!body.contains("Pc4n4ry"), "{body}");
        let r = parse_json_body::<Q>(br#"{"limit": 1, "Pc4n4ry": 2"#).unwrap_err();
        assert!(!String::from_utf8(r.body).unwrap().contains("Pc4n4ry"));
    }
}
