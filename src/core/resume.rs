//! The saved-state record of an upload: what must survive a page reload to resume it.
//!
//! Compact on purpose (it lives in IndexedDB, one record per file): the session identity, the
//! server's plan, the measured clock offset, the chunks the API confirmed as ranges, and the
//! ETags of chunks uploaded but not yet confirmed (so they are reported, not uploaded again).
//! ETags of confirmed chunks are not kept: the server already has them.

use serde::{Deserialize, Serialize};

use crate::core::error::{Error, ErrorCode};
use crate::core::wire::UploadHeaders;

/// The current record format. Records of another version are refused with `invalid_input`.
pub const SAVED_UPLOAD_VERSION: u32 = 1;

/// Everything needed to resume an upload after a reload. Produced by
/// [`Engine::saved_state`](crate::core::engine::Engine::saved_state), consumed by
/// [`Engine::restore_upload`](crate::core::engine::Engine::restore_upload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedUpload {
    /// Record format version ([`SAVED_UPLOAD_VERSION`]).
    pub version: u32,
    /// The multipart session id.
    pub upload_id: String,
    /// The reserved asset id.
    pub asset_id: String,
    /// The Worker's upload token for the upload-scoped calls, if the session came through it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_token: Option<String>,
    /// Headers to send with every chunk PUT.
    #[serde(default, skip_serializing_if = "UploadHeaders::is_empty")]
    pub upload_headers: UploadHeaders,
    /// The file's size.
    pub total_size: u64,
    /// The server's chunk size.
    pub chunk_size: u64,
    /// The server's chunk count.
    pub total_chunks: u32,
    /// Session expiry (RFC 3339, server clock).
    pub expires_at: String,
    /// Server clock minus local clock when the record was written, in ms.
    #[serde(default)]
    pub clock_offset_ms: i64,
    /// Chunks the API confirmed, as inclusive `[first, last]` index ranges.
    #[serde(default)]
    pub reported: Vec<[u32; 2]>,
    /// Uploaded but unconfirmed chunks: `(index, etag)`.
    #[serde(default)]
    pub etags: Vec<(u32, String)>,
}

impl SavedUpload {
    /// Checks the record's version and internal consistency (indices within the plan).
    pub fn validate(&self) -> Result<(), Error> {
        if self.version != SAVED_UPLOAD_VERSION {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!(
                    "saved upload record has version {}, this client reads version {SAVED_UPLOAD_VERSION}",
                    self.version
                ),
            ));
        }
        let in_plan = |i: u32| i >= 1 && i <= self.total_chunks;
        for &[first, last] in &self.reported {
            if first > last || !in_plan(first) || !in_plan(last) {
                return Err(Error::invalid(format!(
                    "saved upload record has a bad range {first}-{last}"
                )));
            }
        }
        for (index, etag) in &self.etags {
            if !in_plan(*index) || etag.is_empty() {
                return Err(Error::invalid(format!(
                    "saved upload record has a bad ETag entry for chunk {index}"
                )));
            }
        }
        Ok(())
    }

    /// Whether chunk `index` is listed as confirmed.
    pub fn is_reported(&self, index: u32) -> bool {
        self.reported
            .iter()
            .any(|&[first, last]| (first..=last).contains(&index))
    }
}

/// Compresses ascending indices into inclusive ranges (`1,2,3,7` → `[1,3],[7,7]`).
pub fn to_ranges(sorted_indices: impl IntoIterator<Item = u32>) -> Vec<[u32; 2]> {
    let mut ranges: Vec<[u32; 2]> = Vec::new();
    for index in sorted_indices {
        match ranges.last_mut() {
            Some(last) if last[1].checked_add(1) == Some(index) => last[1] = index,
            _ => ranges.push([index, index]),
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> SavedUpload {
        SavedUpload {
            version: SAVED_UPLOAD_VERSION,
            upload_id: "u".into(),
            asset_id: "a".into(),
            upload_token: Some("t".into()),
            upload_headers: UploadHeaders::new(),
            total_size: 10,
            chunk_size: 4,
            total_chunks: 3,
            expires_at: "2025-12-02T10:00:00Z".into(),
            clock_offset_ms: -5,
            reported: vec![[1, 2]],
            etags: vec![(3, "e3".into())],
        }
    }

    #[test]
    fn ranges_compress_runs() {
        assert_eq!(
            to_ranges([1, 2, 3, 7, 9, 10]),
            vec![[1, 3], [7, 7], [9, 10]]
        );
        assert!(to_ranges([]).is_empty());
    }

    #[test]
    fn record_round_trips_through_json_and_validates() {
        let r = record();
        r.validate().unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("upload_headers"), "{json}");
        let back: SavedUpload = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(r.is_reported(2) && !r.is_reported(3));
    }

    #[test]
    fn bad_records_are_refused() {
        let mut r = record();
        r.version = 99;
        assert_eq!(r.validate().unwrap_err().code, ErrorCode::InvalidInput);
        let mut r = record();
        r.reported = vec![[2, 1]];
        assert!(r.validate().is_err());
        let mut r = record();
        r.etags = vec![(4, "x".into())];
        assert!(r.validate().is_err());
    }
}
