//! fastText `.bin`/`.ftz` models: streaming reader and validation.

use crate::error::{Error, Result};
use crate::pack::Examination;
use std::path::Path;

/// Reads and validates a fastText model file.
pub fn examine_file(_path: &Path) -> Result<Examination> {
    Err(Error::Usage {
        message: "the fastText reader is not built yet".into(),
    })
}
