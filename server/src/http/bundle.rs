//! The WASM, JS and CSS the pages load, under a URL that names their content.
//!
//! Pages link the bundle as `/pkg/{version}/rollcall.js`, where the version is a digest of the
//! bundle's files taken when the server starts. Under its own version a file never changes, so
//! browsers keep it for a year without asking again: a page view costs no revalidation round
//! trips for its stylesheet, script and WASM (the stylesheet's blocks the first paint). A new
//! release has new files, hence a new version and new URLs.
//!
//! Release builds ship brotli and gzip copies next to each file (`cargo leptos build --release
//! --precompress`), sent to browsers that accept them: the WASM is about a quarter of its raw
//! size in brotli.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{header, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// Hex digits in a version: 64 bits of the digest, plenty to tell releases apart.
const VERSION_LEN: usize = 16;

const FOR_GOOD: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const ASK_EACH_TIME: HeaderValue = HeaderValue::from_static("no-cache");

#[derive(Clone)]
pub struct Bundle {
    dir: PathBuf,
    version: Option<Arc<str>>,
}

impl Bundle {
    /// The bundle in `{site_root}/pkg`, versioned by its files' names and contents. Without
    /// files (a server built without its site) or under `cargo leptos watch` (which rewrites
    /// the files while the server runs), there is no version and pages link the plain names.
    pub fn load(site_root: &str) -> Bundle {
        let dir = Path::new(site_root).join("pkg");
        let watched = std::env::var_os("LEPTOS_WATCH").is_some();
        let version = (!watched).then(|| digest_of_files(&dir)).flatten();
        Bundle { dir, version }
    }

    /// Where pages link the bundle, relative to the site root (Leptos's `site_pkg_dir`).
    pub fn url_dir(&self) -> String {
        match &self.version {
            Some(version) => format!("pkg/{version}"),
            None => "pkg".to_owned(),
        }
    }

    /// Serves `/{version}/{file}` and `/{file}` (nested under `/pkg`).
    pub fn router(self) -> Router {
        let files = ServeDir::new(&self.dir).precompressed_br().precompressed_gzip();
        Router::new().fallback(serve).with_state(Arc::new((self, files)))
    }
}

/// A file of the bundle. Under this server's version it may be kept for good. Under another
/// (a page from another release, while servers are upgraded one by one) or under no version,
/// this server's copy is sent but must be asked for again next time, so no browser keeps a
/// file under a version it does not belong to.
async fn serve(State(bundle): State<Arc<(Bundle, ServeDir)>>, mut req: Request) -> Response {
    let (bundle, files) = &*bundle;
    let path = req.uri().path();
    let (file_path, own_version) = match path.strip_prefix('/').and_then(|p| p.split_once('/')) {
        Some((version, rest)) if is_version(version) => {
            let own = bundle.version.as_deref() == Some(version);
            (format!("/{rest}"), own)
        }
        _ => (path.to_owned(), false),
    };
    match file_path.parse() {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    }
    let mut res = files.clone().oneshot(req).await.into_response();
    let found = res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED;
    let headers = res.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        if found && own_version { FOR_GOOD } else { ASK_EACH_TIME },
    );
    // The body depends on Accept-Encoding: shared caches must not hand brotli to a client that
    // did not ask for it.
    headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    res
}

fn is_version(segment: &str) -> bool {
    segment.len() == VERSION_LEN
        && segment
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A digest of every file in `dir` (names and contents, in name order), or `None` when there
/// are none. Read once at start-up, before the server takes requests: a few milliseconds for a
/// release bundle.
fn digest_of_files(dir: &Path) -> Option<Arc<str>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .map(|entry| entry.path())
        .collect();
    if files.is_empty() {
        return None;
    }
    files.sort();
    let mut digest = Sha256::new();
    for file in &files {
        let name = file.file_name()?.as_encoded_bytes();
        let contents = std::fs::read(file).ok()?;
        // Lengths first, so no two different sets of files hash alike.
        digest.update((name.len() as u64).to_le_bytes());
        digest.update(name);
        digest.update((contents.len() as u64).to_le_bytes());
        digest.update(&contents);
    }
    let hex: String = digest.finalize()[..VERSION_LEN / 2]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(hex.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_dir(files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rollcall-bundle-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, contents) in files {
            std::fs::write(dir.join(name), contents).unwrap();
        }
        dir
    }

    #[test]
    fn the_version_follows_the_files_names_and_contents_and_nothing_else() {
        let a = bundle_dir(&[("rollcall.js", "one"), ("rollcall.css", "two")]);
        let same = bundle_dir(&[("rollcall.css", "two"), ("rollcall.js", "one")]);
        let changed = bundle_dir(&[("rollcall.js", "one"), ("rollcall.css", "two!")]);
        let renamed = bundle_dir(&[("rollcall.js", "one"), ("other.css", "two")]);
        // The same bytes split differently between name and contents.
        let shifted = bundle_dir(&[("rollcall.jso", "ne"), ("rollcall.css", "two")]);
        let version = digest_of_files(&a).unwrap();
        assert!(is_version(&version), "{version}");
        assert_eq!(digest_of_files(&same).unwrap(), version);
        for other in [&changed, &renamed, &shifted] {
            assert_ne!(digest_of_files(other).unwrap(), version);
        }
        let empty = bundle_dir(&[]);
        assert_eq!(digest_of_files(&empty), None);
        assert_eq!(digest_of_files(Path::new("/nonexistent/rollcall/pkg")), None);
        for dir in [a, same, changed, renamed, shifted, empty] {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn only_sixteen_lowercase_hex_digits_make_a_version() {
        assert!(is_version("0123456789abcdef"));
        for not in [
            "0123456789ABCDEF",
            "0123456789abcde",
            "0123456789abcdef0",
            "rollcall.js",
            "..",
            "",
        ] {
            assert!(!is_version(not), "{not}");
        }
    }
}
