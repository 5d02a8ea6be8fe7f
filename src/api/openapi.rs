//! `GET /openapi.json`: the OpenAPI 3.1 description of the whole API (requirements §6), kept as the
//! static file `src/api/openapi.json` and compiled in. Depends on [`crate::http`] and
//! [`crate::auth`] (the handler signature).
//!
//! Each operation carries its access as `x-patina-access` (`open`, `query`, `local`,
//! `patina`); `tests/it/openapi.rs` checks the document against [`super::ROUTES`] and with a
//! real validator (`openapi-spec-validator`).

use super::Ctx;
use crate::auth::Principal;
use crate::http::{Request, Response};

/// The document, as served: JSON text (validated by the tests).
pub const DOCUMENT: &str = include_str!("openapi.json");

/// `GET /openapi.json` (open) → the document.
pub fn openapi(_: &Ctx, _: &Principal, _: &Request) -> Response {
    Response {
        status: 200,
        headers: Vec::new(),
        body: DOCUMENT.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_json_and_openapi_3_1() {
        let v: serde_json::Value = serde_json::from_str(super::DOCUMENT).unwrap();
        assert_eq!(v["openapi"], "3.1.0");
    }
}
