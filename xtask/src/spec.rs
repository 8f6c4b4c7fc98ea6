//! `cargo xtask spec`: being written (see the issue it belongs to).

pub(crate) fn run(_args: &[String]) -> Result<(), String> {
    Err("`cargo xtask spec` is not written yet".to_owned())
}
