//! [`UploadLimits`]: what one multipart request may bring. A leaf of its own, so that
//! the engine's settings hold it without importing the upload code.

use std::path::PathBuf;

/// Limits on uploads, set with [`Engine::upload_limits`](crate::Engine::upload_limits).
#[derive(Clone, Debug)]
pub struct UploadLimits {
    pub(crate) max_file: u64,
    pub(crate) max_total: u64,
    pub(crate) in_memory: usize,
    pub(crate) max_memory: usize,
    pub(crate) max_fields: usize,
    pub(crate) dir: Option<PathBuf>,
}

impl Default for UploadLimits {
    /// Files up to 32 MiB, 64 MiB per request, 256 KiB kept in memory per file (more goes
    /// to a temporary file), 4 MiB in memory per request (text fields and small files
    /// together), 1,000 parts, temporary files in the system's temp dir.
    fn default() -> Self {
        UploadLimits {
            max_file: 32 << 20,
            max_total: 64 << 20,
            in_memory: 256 << 10,
            max_memory: 4 << 20,
            max_fields: 1000,
            dir: None,
        }
    }
}

impl UploadLimits {
    /// The largest file (or field) in bytes; past it, `413`.
    pub fn max_file(mut self, bytes: u64) -> Self {
        self.max_file = bytes;
        self
    }

    /// The largest whole request body in bytes; past it, `413`.
    pub fn max_total(mut self, bytes: u64) -> Self {
        self.max_total = bytes;
        self
    }

    /// How much of one file is kept in memory before it is written to a temporary file.
    pub fn in_memory(mut self, bytes: usize) -> Self {
        self.in_memory = bytes;
        self
    }

    /// The most bytes one request's form keeps in memory: text fields and the files under
    /// the per-file threshold together (Gin's `MaxMultipartMemory`). Past it a file goes to
    /// a temporary file, and a text field is refused with `413`. The bytes also count
    /// against the server's body memory (`Engine::body_memory`): past that, `503`.
    pub fn max_memory(mut self, bytes: usize) -> Self {
        self.max_memory = bytes;
        self
    }

    /// The most parts (fields and files) in one form; past it, `413`.
    pub fn max_fields(mut self, parts: usize) -> Self {
        self.max_fields = parts;
        self
    }

    /// Where temporary files go (default: the system's temp dir).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }
}
