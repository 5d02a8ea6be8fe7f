//! Scry never hands out a secret: every hit's snippet, title, path and kind pass through the
//! detector of [`crate::secrets::scan`] before they leave, in the daemon's `/api/scry` handler
//! and in the CLI's no-daemon path alike. Pure; depends only on that detector.

use super::Hit;
use crate::secrets::scan::{Known, redact};

/// Replaces, in each hit's snippet, title, path and kind (front matter `type` is user text), every secret-looking token and every
/// `known` value (whole, or cut at the snippet's edge) with `[redacted]`, and marks the hit
/// `redacted`. Returns how many hits were changed.
pub fn redact_hits(hits: &mut [Hit], known: &[Known<'_>]) -> usize {
    let mut changed = 0;
    for h in hits.iter_mut() {
        let mut any = false;
        for field in [&mut h.snippet, &mut h.title, &mut h.path, &mut h.kind] {
            let (text, did) = redact(field, known);
            if did {
                *field = text;
                any = true;
            }
        }
        if any {
            h.redacted = true;
            changed += 1;
        }
    }
    changed
}
