//! `cargo xtask bench`: being written (see the issue it belongs to).

pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    Err("`cargo xtask bench` is not written yet".to_owned())
}
