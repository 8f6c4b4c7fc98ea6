//! `http_dir` on a WebSocket listener: a plain HTTP `GET` (one that does not ask for a WebSocket
//! upgrade) is answered with a file from the directory, as mosquitto does, so that a browser page
//! and the script that speaks MQTT over WebSocket to the same port can be served by the broker.
//!
//! Only files under the directory are served: a target with a `..` segment, a backslash or a NUL
//! is refused (403), and the file's real path (symbolic links resolved) must still be under the
//! directory's. A target ending in `/` means its `index.html`. One request per connection, then
//! the connection closes; no ranges, no caching headers. Files over [`MAX_FILE`] are refused (413)
//! rather than held in memory. This file does no socket I/O (`stream.rs` writes the answer).

use std::path::{Component, Path, PathBuf};

/// The largest file served: a page and its scripts, not downloads.
pub(crate) const MAX_FILE: u64 = 16 * 1024 * 1024;

/// The target of `input` if it is a complete plain `GET` request (no `Upgrade: websocket`).
pub(crate) fn plain_get(input: &[u8]) -> Option<String> {
    let end = input.windows(4).position(|window| window == b"\r\n\r\n")?;
    let text = std::str::from_utf8(&input[..end]).ok()?;
    let mut lines = text.split("\r\n");
    let mut words = lines.next()?.split(' ');
    let (Some("GET"), Some(target), Some(version)) = (words.next(), words.next(), words.next())
    else {
        return None;
    };
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let upgrade = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("upgrade")
                && value.to_ascii_lowercase().contains("websocket")
        })
    });
    (!upgrade).then(|| target.to_owned())
}

/// The complete HTTP response to `GET target` from `dir`, and its status for the log.
pub(crate) fn answer(dir: &Path, target: &str) -> (u16, Vec<u8>) {
    match file_for(dir, target) {
        Ok(path) => match std::fs::metadata(&path) {
            Ok(metadata) if metadata.len() > MAX_FILE => {
                response(413, "text/plain", b"too large\n")
            }
            Ok(_) => match std::fs::read(&path) {
                Ok(body) => response(200, content_type(&path), &body),
                Err(_) => response(404, "text/plain", b"not found\n"),
            },
            Err(_) => response(404, "text/plain", b"not found\n"),
        },
        Err(status) => response(status, "text/plain", b"refused\n"),
    }
}

/// The file `target` names under `dir`, or the status to refuse it with.
fn file_for(dir: &Path, target: &str) -> Result<PathBuf, u16> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let path = percent_decode(path).ok_or(400u16)?;
    if !path.starts_with('/') || path.contains(['\\', '\0']) {
        return Err(403);
    }
    let relative = Path::new(path.trim_start_matches('/'));
    if relative
        .components()
        .any(|component| !matches!(component, Component::Normal(_)))
    {
        // `..`, or anything else than plain names: never outside the directory.
        return Err(403);
    }
    let mut file = dir.join(relative);
    if path.ends_with('/') {
        file.push("index.html");
    }
    // Symbolic links inside the directory may not lead out of it.
    let root = dir.canonicalize().map_err(|_| 404u16)?;
    let real = file.canonicalize().map_err(|_| 404u16)?;
    if !real.starts_with(&root) {
        return Err(403);
    }
    if real.is_dir() {
        return Err(404);
    }
    Ok(real)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|extension| extension.to_str()) {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript",
        Some("css") => "text/css",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

fn response(status: u16, content_type: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Payload Too Large",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    (status, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_gets_are_served() {
        assert_eq!(
            plain_get(b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n").as_deref(),
            Some("/index.html")
        );
        assert_eq!(plain_get(b"GET /index.html HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(
            plain_get(b"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"),
            None
        );
        assert_eq!(plain_get(b"POST / HTTP/1.1\r\n\r\n"), None);
    }

    #[test]
    fn files_outside_the_directory_are_never_served() {
        let base = std::env::temp_dir().join(format!("mqtt-http-dir-{}", std::process::id()));
        let dir = base.join("www");
        std::fs::create_dir_all(dir.join("sub")).expect("dirs");
        std::fs::write(dir.join("index.html"), "<p>hi</p>").expect("index");
        std::fs::write(dir.join("sub/a.js"), "1").expect("a.js");
        std::fs::write(base.join("secret"), "no").expect("secret");
        let _ = std::os::unix::fs::symlink(base.join("secret"), dir.join("link"));
        let status = |target: &str| answer(&dir, target).0;
        assert_eq!(status("/"), 200);
        assert_eq!(status("/index.html?x=1"), 200);
        assert_eq!(status("/sub/a.js"), 200);
        assert_eq!(status("/missing"), 404);
        assert_eq!(status("/sub"), 404);
        // Leading slashes are one: this is `etc/passwd` under the directory, which is not there.
        assert_eq!(status("//etc/passwd"), 404);
        for hostile in [
            "/../secret",
            "/sub/../../secret",
            "/%2e%2e/secret",
            "/..%2fsecret",
            "/link",
            "/a\\..\\secret",
            "relative",
        ] {
            assert_eq!(status(hostile), 403, "{hostile}");
        }
        let (_, body) = answer(&dir, "/");
        assert!(body.ends_with(b"<p>hi</p>"));
        let _ = std::fs::remove_dir_all(&base);
    }
}
