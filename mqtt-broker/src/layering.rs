//! The direction of the dependencies between the broker's folders, checked on the sources.
//!
//! Each rule names a folder (or a single file) and the parts of the crate it must not name. They
//! keep the lower layers free of the upper ones, so that a reader can understand `transport/`
//! without `connection/`, the router without the connections it serves, and `logging/` without the
//! router: bytes at the bottom, then the shared leaves (messages, records), routing, connections,
//! and logging below everything that logs. `persistence/` keeps its own test of the
//! same kind (`persistence_does_not_depend_on_routing`), next to the trait that makes it possible.

use std::fs;
use std::path::{Path, PathBuf};

/// (folder or file under `src/`, the top-level modules it must not name).
const RULES: &[(&str, &[&str])] = &[
    // Bytes know nothing of MQTT's connections, sessions or bridges.
    (
        "transport",
        &[
            "bridge",
            "connection",
            "routing",
            "security",
            "persistence",
            "config",
        ],
    ),
    // The router serves connections and knows none: what a connection asks of it is in
    // `routing/requests.rs`.
    ("routing", &["connection", "bridge"]),
    // The leaves that the router, persistence and connections share.
    ("record.rs", &["connection", "routing", "persistence"]),
    ("message.rs", &["connection", "routing", "persistence"]),
    (
        "subscription_options.rs",
        &["connection", "routing", "persistence"],
    ),
    ("persistence", &["connection", "transport", "bridge"]),
    // Security is asked by the router and the connections, and set up from the configuration,
    // whose `SecuritySettings` it defines.
    ("security", &["config", "routing", "connection"]),
    // Every part of the broker logs; logging may need none of them.
    (
        "logging",
        &["routing", "connection", "bridge", "persistence", "security"],
    ),
    // The plugin API is the embedding application's view: messages and clients, not internals.
    (
        "hooks.rs",
        &[
            "routing",
            "connection",
            "persistence",
            "transport",
            "bridge",
        ],
    ),
];

/// Every `.rs` file under `path` (or `path` itself).
fn sources(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(path).expect("the source folder is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn lower_layers_do_not_name_upper_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    for (part, forbidden) in RULES {
        let files = sources(&src.join(part));
        assert!(
            !files.is_empty(),
            "no sources for {part}: the rule names a moved part"
        );
        for file in files {
            let text = fs::read_to_string(&file).expect("a readable source file");
            for module in *forbidden {
                // Built so that this file's own text does not match.
                let path = format!("crate::{module}");
                if text.contains(&format!("{path}::")) || text.contains(&format!("{path};")) {
                    broken.push(format!("{} names {path}", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}
