//! `include_dir <dir>`: every file in `dir` whose name ends in `.conf` is read as part of the
//! configuration, after the lines above it and before the lines below it, in the byte order of the
//! names (mosquitto's rule: case-sensitive, so capital letters come first). As in mosquitto the
//! directive is read only in the main file; an included file's errors name that file.

use std::path::Path;

use super::Parser;

pub(super) fn include_dir(parser: &mut Parser, dir: &str) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            parser.error(format!(
                "`include_dir {dir}`: cannot read the directory: {error}"
            ));
            return;
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let path = entry.path();
                let is_conf = path
                    .extension()
                    .is_some_and(|extension| extension == "conf");
                if is_conf && !path.is_dir() {
                    files.push(path);
                }
            }
            Err(error) => {
                parser.error(format!(
                    "`include_dir {dir}`: cannot list the directory: {error}"
                ));
                return;
            }
        }
    }
    // Byte order of the names, as mosquitto sorts them (strcmp, not the locale's order).
    files.sort_by(|a, b| {
        a.file_name()
            .map(|name| name.as_encoded_bytes())
            .cmp(&b.file_name().map(|name| name.as_encoded_bytes()))
    });
    let back = parser.place.clone();
    for path in files {
        read(parser, &path);
    }
    parser.place = back;
}

fn read(parser: &mut Parser, path: &Path) {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parser.text(&text, &file, false),
        Err(error) => {
            parser.place = super::Place { file, line: 0 };
            parser.error(format!("cannot read: {error}"));
        }
    }
}
