//! The chunk plan: which bytes of the file make up each chunk.
//!
//! The server decides `chunk_size` and `total_chunks` when the session is created; the client
//! only checks that the values add up for the file it holds, then derives byte ranges from them.
//! Chunk indices are 1-based, as on the wire; every chunk is `chunk_size` bytes except the last,
//! which holds the remainder.

use crate::core::error::{Error, ErrorCode};
use serde::{Deserialize, Serialize};

/// A half-open byte range `[start, end)` of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ByteRange {
    /// Offset of the first byte.
    pub start: u64,
    /// Offset one past the last byte (what `Blob.slice(start, end)` expects).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes in the range.
    pub const fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the range holds no byte (never the case for a chunk of a valid plan).
    pub const fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// A validated chunk plan for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkPlan {
    total_size: u64,
    chunk_size: u64,
    total_chunks: u32,
}

impl ChunkPlan {
    /// Checks the server's plan against the size of the file being uploaded.
    ///
    /// Refuses (with [`ErrorCode::ServerInvalid`]) a zero chunk size, a chunk count that is not
    /// `ceil(total_size / chunk_size)`, a `total_size` that differs from the file's size, or more
    /// chunks than a `u32` can index.
    pub fn new(
        file_size: u64,
        server_total_size: u64,
        chunk_size: u64,
        total_chunks: u64,
    ) -> Result<Self, Error> {
        if server_total_size != file_size {
            return Err(invalid(format!(
                "the server planned {server_total_size} bytes but the file has {file_size}"
            )));
        }
        if file_size == 0 {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                "cannot upload an empty file",
            ));
        }
        if chunk_size == 0 {
            return Err(invalid("the server's chunk_size is 0".to_string()));
        }
        let expected_chunks = file_size.div_ceil(chunk_size);
        if total_chunks != expected_chunks {
            return Err(invalid(format!(
                "the server's total_chunks is {total_chunks}, but {file_size} bytes in chunks of \
                 {chunk_size} make {expected_chunks}"
            )));
        }
        let total_chunks = u32::try_from(total_chunks).map_err(|_| {
            invalid(format!(
                "{total_chunks} chunks is more than this client can index"
            ))
        })?;
        Ok(ChunkPlan {
            total_size: file_size,
            chunk_size,
            total_chunks,
        })
    }

    /// The file's size in bytes.
    pub const fn total_size(&self) -> u64 {
        self.total_size
    }

    /// The size of every chunk but the last.
    pub const fn chunk_size(&self) -> u64 {
        self.chunk_size
    }

    /// The number of chunks; valid indices are `1..=total_chunks`.
    pub const fn total_chunks(&self) -> u32 {
        self.total_chunks
    }

    /// The bytes of chunk `index` (1-based), or `None` when the index is outside the plan.
    pub fn range(&self, index: u32) -> Option<ByteRange> {
        if index == 0 || index > self.total_chunks {
            return None;
        }
        let start = u64::from(index - 1) * self.chunk_size;
        let end = (start + self.chunk_size).min(self.total_size);
        Some(ByteRange { start, end })
    }

    /// The size of chunk `index` in bytes (0 outside the plan).
    pub fn chunk_len(&self, index: u32) -> u64 {
        self.range(index).map_or(0, |r| r.len())
    }

    /// Whether `index` names a chunk of this plan.
    pub const fn contains(&self, index: u32) -> bool {
        index >= 1 && index <= self.total_chunks
    }
}

fn invalid(message: String) -> Error {
    Error::new(ErrorCode::ServerInvalid, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_one_based_contiguous_and_the_last_is_shorter() {
        let plan = ChunkPlan::new(10, 10, 4, 3).unwrap();
        assert_eq!(plan.range(1), Some(ByteRange { start: 0, end: 4 }));
        assert_eq!(plan.range(2), Some(ByteRange { start: 4, end: 8 }));
        assert_eq!(plan.range(3), Some(ByteRange { start: 8, end: 10 }));
        assert_eq!(plan.range(0), None);
        assert_eq!(plan.range(4), None);
        assert_eq!(plan.chunk_len(3), 2);
        assert_eq!(plan.chunk_len(9), 0);
    }

    #[test]
    fn exact_multiple_has_a_full_last_chunk() {
        let plan = ChunkPlan::new(8, 8, 4, 2).unwrap();
        assert_eq!(plan.range(2), Some(ByteRange { start: 4, end: 8 }));
    }

    #[test]
    fn single_chunk_file() {
        let plan = ChunkPlan::new(3, 3, 5_242_880, 1).unwrap();
        assert_eq!(plan.range(1), Some(ByteRange { start: 0, end: 3 }));
    }

    #[test]
    fn refuses_values_that_do_not_add_up() {
        let code = |r: Result<ChunkPlan, Error>| r.unwrap_err().code;
        assert_eq!(code(ChunkPlan::new(10, 10, 0, 3)), ErrorCode::ServerInvalid);
        assert_eq!(code(ChunkPlan::new(10, 10, 4, 2)), ErrorCode::ServerInvalid);
        assert_eq!(code(ChunkPlan::new(10, 10, 4, 4)), ErrorCode::ServerInvalid);
        assert_eq!(code(ChunkPlan::new(10, 11, 4, 3)), ErrorCode::ServerInvalid);
        assert_eq!(code(ChunkPlan::new(0, 0, 4, 0)), ErrorCode::InvalidInput);
        assert_eq!(
            code(ChunkPlan::new(u64::MAX, u64::MAX, 1, u64::MAX)),
            ErrorCode::ServerInvalid
        );
    }

    #[test]
    fn ranges_cover_the_file_exactly() {
        for (size, chunk) in [(1u64, 1u64), (7, 3), (100, 10), (101, 10), (5, 100)] {
            let plan = ChunkPlan::new(size, size, chunk, size.div_ceil(chunk)).unwrap();
            let mut next = 0;
            for i in 1..=plan.total_chunks() {
                let r = plan.range(i).unwrap();
                assert_eq!(r.start, next);
                assert!(!r.is_empty() && r.len() <= chunk);
                next = r.end;
            }
            assert_eq!(next, size);
        }
    }
}
