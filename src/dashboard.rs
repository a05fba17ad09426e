//! The interactive dashboard (`dashboard.html`). Placeholder until the dashboard issue
//! lands: writes a minimal page so the output set is complete.

use std::path::Path;

use crate::error::Result;
use crate::pipeline::RunResult;
use crate::report::summary::Summary;

pub fn write_for_run(path: &Path, r: &RunResult, _summary: &Summary) -> Result<()> {
    crate::output::write_file(path, |w| {
        writeln!(
            w,
            "<!doctype html><meta charset=utf-8><title>cardseg</title><p>{} segments</p>",
            r.model.k
        )
        .map_err(crate::output::werr(path))
    })
}
