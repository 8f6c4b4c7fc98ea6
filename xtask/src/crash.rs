//! `cargo xtask crash`: being written (see the issue it belongs to).

pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    Err("`cargo xtask crash` is not written yet".to_owned())
}
