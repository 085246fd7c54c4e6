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
//! size in brotli. A build without them (the plain `cargo leptos build --release`) gets them
//! made here instead, once per file on its first request, and kept in memory (`OnTheFly`).

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::{header, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// Hex digits in a version: 64 bits of the digest, plenty to tell releases apart.
const VERSION_LEN: usize = 16;

/// How deep the bundle's folders go (wasm-bindgen puts JS snippets in `snippets/<crate>/`).
const MAX_DEPTH: usize = 4;

#[derive(Clone)]
pub struct Bundle {
    dir: PathBuf,
    version: Option<Arc<str>>,
    /// Each file's path, size and modification time when the version was taken.
    stamps: Arc<[FileStamp]>,
    on_the_fly: Arc<OnTheFly>,
}

#[derive(Clone, PartialEq, Debug)]
struct FileStamp {
    path: String,
    len: u64,
    modified: Option<SystemTime>,
}

impl Bundle {
    /// The bundle in `{site_root}/pkg`, versioned by its files' paths and contents. Without
    /// files (a server built without its site) or under `cargo leptos watch` (which rewrites
    /// the files while the server runs), there is no version and pages link the plain names.
    pub fn load(site_root: &str) -> Bundle {
        let dir = Path::new(site_root).join("pkg");
        let watched = std::env::var_os("LEPTOS_WATCH").is_some();
        let (version, stamps) = match (!watched).then(|| digest_of_files(&dir)).flatten() {
            Some((version, stamps)) => (Some(version), stamps),
            None => (None, Vec::new()),
        };
        Bundle {
            dir,
            version,
            stamps: stamps.into(),
            on_the_fly: Arc::default(),
        }
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

    /// Whether the files on disk are still those the version was taken of. A build into the
    /// site directory while the server runs would otherwise put new files under the old
    /// version, kept for good. A directory walk with no reads: a few microseconds, on requests
    /// browsers seldom make once they keep the files.
    fn unchanged(&self) -> bool {
        stamps_of_files(&self.dir).as_deref() == Some(&*self.stamps)
    }
}

/// What browsers and shared caches may do with an answer.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Keep {
    /// This server's version: the file under it never changes.
    ForGood,
    /// A plain name, or a file that does not exist: ask again next time.
    AskEachTime,
    /// Another release's version (a page from a server not yet upgraded, or already), or files
    /// changed since the version was taken: this server's copy, which must not be kept under
    /// that version, nor revalidated against it later.
    NotAtAll,
}

/// A file of the bundle, under a version or its plain name.
async fn serve(State(bundle): State<Arc<(Bundle, ServeDir)>>, mut req: Request) -> Response {
    let (bundle, files) = &*bundle;
    let path = req.uri().path();
    let (file_path, keep) = match path.strip_prefix('/').and_then(|p| p.split_once('/')) {
        Some((version, rest)) if is_version(version) => {
            let own = bundle.version.as_deref() == Some(version) && bundle.unchanged();
            (format!("/{rest}"), if own { Keep::ForGood } else { Keep::NotAtAll })
        }
        _ => (path.to_owned(), Keep::AskEachTime),
    };
    if keep == Keep::ForGood && req.method() == http::Method::GET {
        if let Some(res) = bundle
            .on_the_fly
            .serve(&bundle.dir, &bundle.stamps, &file_path, req.headers())
            .await
        {
            return res;
        }
    }
    match file_path.parse() {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return StatusCode::BAD_REQUEST.into_response(),
    }
    if keep != Keep::AskEachTime {
        // Under a version the whole file is sent, never "not modified": a browser's copy under
        // this URL may have come from another release's server (see `Keep::NotAtAll`), and a
        // date comparison cannot tell.
        let headers = req.headers_mut();
        for conditional in [
            header::IF_MODIFIED_SINCE,
            header::IF_NONE_MATCH,
            header::IF_UNMODIFIED_SINCE,
            header::IF_RANGE,
        ] {
            headers.remove(conditional);
        }
    }
    let mut res = files.clone().oneshot(req).await.into_response();
    let found = res.status().is_success();
    let headers = res.headers_mut();
    let cache_control = match keep {
        Keep::ForGood if found => "public, max-age=31536000, immutable",
        Keep::ForGood | Keep::AskEachTime => "no-cache",
        Keep::NotAtAll => {
            headers.remove(header::LAST_MODIFIED);
            headers.remove(header::ETAG);
            "no-store"
        }
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    // The body depends on Accept-Encoding: shared caches must not hand brotli to a client that
    // did not ask for it.
    headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    res
}

/// Compressed copies of the bundle's files that the build did not ship, made on a file's first
/// request at a high setting (a file is compressed once per server, so the first visitor waits
/// for it: about a second for a release WASM) and kept in memory for the server's life. Only
/// files of this server's own version are kept, so the memory is bounded by the bundle.
#[derive(Default)]
struct OnTheFly {
    copies: std::sync::Mutex<std::collections::HashMap<String, CompressedOnce>>,
}

/// A file's copies, made by whichever request comes first while the others wait; `None` when
/// the file could not be read.
type CompressedOnce = Arc<tokio::sync::OnceCell<Option<Arc<Compressed>>>>;

struct Compressed {
    content_type: &'static str,
    brotli: axum::body::Bytes,
    gzip: axum::body::Bytes,
}

/// Brotli's setting for the copies: near its densest, at a fraction of level 11's time.
const BROTLI_QUALITY: u32 = 9;
const BROTLI_WINDOW: u32 = 22;

impl OnTheFly {
    /// The compressed copy of `path` (`/rollcall.wasm`) in the encoding the request prefers,
    /// or `None` to serve it as the file server would: a compressed copy ships with the build,
    /// the client takes no compression, or the file is not one that compresses.
    async fn serve(&self, dir: &Path, stamps: &[FileStamp], path: &str, headers: &http::HeaderMap) -> Option<Response> {
        let relative = path.strip_prefix('/')?;
        let stamp = stamps.iter().find(|stamp| stamp.path == relative)?;
        let content_type = compressible_type(relative)?;
        let shipped = |suffix: &str| {
            stamps.iter().any(|s| {
                s.path.len() == relative.len() + suffix.len()
                    && s.path.starts_with(relative)
                    && s.path.ends_with(suffix)
            })
        };
        if shipped(".br") || shipped(".gz") {
            return None;
        }
        let encoding = preferred_encoding(headers)?;
        let cell = self.copies.lock().ok()?.entry(stamp.path.clone()).or_default().clone();
        let file = dir.join(relative);
        let stamp = stamp.clone();
        // In a task of its own: a request dropped while its file is compressed does not cancel
        // the work for the next one to start again (requests reset at once could otherwise pile
        // up compressions); the cell lets one run per file while later requests wait for it.
        let copy = tokio::spawn(async move {
            cell.get_or_init(|| async move {
                tokio::task::spawn_blocking(move || compress(&file, &stamp, content_type))
                    .await
                    .ok()
                    .flatten()
                    .map(Arc::new)
            })
            .await
            .clone()
        })
        .await
        .ok()
        .flatten()?;
        let body = match encoding {
            Encoding::Brotli => copy.brotli.clone(),
            Encoding::Gzip => copy.gzip.clone(),
        };
        Some(
            (
                [
                    (header::CONTENT_TYPE, HeaderValue::from_static(copy.content_type)),
                    (header::CONTENT_ENCODING, HeaderValue::from_static(encoding.token())),
                    (
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("public, max-age=31536000, immutable"),
                    ),
                    (header::VARY, HeaderValue::from_static("accept-encoding")),
                ],
                body,
            )
                .into_response(),
        )
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        }
    }
}

/// Brotli when the client takes it, else gzip, else none (`Accept-Encoding` with q-values:
/// `br;q=0` refuses brotli; an encoding named outright overrides `*`, RFC 9110 12.5.3).
fn preferred_encoding(headers: &http::HeaderMap) -> Option<Encoding> {
    let (mut brotli, mut gzip, mut any) = (None, None, None);
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        for item in value.to_str().ok()?.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default().to_ascii_lowercase();
            let refused = parts.any(|param| {
                param
                    .split_once('=')
                    .filter(|(key, _)| key.trim().eq_ignore_ascii_case("q"))
                    .and_then(|(_, q)| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            match name.as_str() {
                "br" => brotli = Some(!refused),
                "gzip" | "x-gzip" => gzip = Some(!refused),
                "*" => any = Some(!refused),
                _ => {}
            }
        }
    }
    let any = any.unwrap_or(false);
    if brotli.unwrap_or(any) {
        Some(Encoding::Brotli)
    } else if gzip.unwrap_or(any) {
        Some(Encoding::Gzip)
    } else {
        None
    }
}

/// The files worth compressing, by their type as they are served.
fn compressible_type(path: &str) -> Option<&'static str> {
    let extension = path.rsplit_once('.')?.1;
    Some(match extension {
        "wasm" => "application/wasm",
        "js" | "mjs" => "text/javascript",
        "css" => "text/css",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        _ => return None,
    })
}

/// Both copies of `file`, or `None` when it cannot be read or is no longer the file `stamp`
/// describes (rebuilt since the version was taken: its copies must not be kept under it).
fn compress(file: &Path, stamp: &FileStamp, content_type: &'static str) -> Option<Compressed> {
    use std::io::Write;
    let unchanged =
        || std::fs::metadata(file).is_ok_and(|meta| meta.len() == stamp.len && meta.modified().ok() == stamp.modified);
    let raw = unchanged().then(|| std::fs::read(file).ok()).flatten()?;
    if raw.len() as u64 != stamp.len || !unchanged() {
        return None;
    }
    let mut brotli = Vec::with_capacity(raw.len() / 3);
    {
        let mut writer = brotli::CompressorWriter::new(&mut brotli, 64 * 1024, BROTLI_QUALITY, BROTLI_WINDOW);
        writer.write_all(&raw).ok()?;
    }
    let mut gzip = flate2::write::GzEncoder::new(Vec::with_capacity(raw.len() / 3), flate2::Compression::best());
    gzip.write_all(&raw).ok()?;
    let gzip = gzip.finish().ok()?;
    Some(Compressed {
        content_type,
        brotli: brotli.into(),
        gzip: gzip.into(),
    })
}

fn is_version(segment: &str) -> bool {
    segment.len() == VERSION_LEN
        && segment
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Every file under `dir` (down to `MAX_DEPTH` folders) with its size and modification time,
/// by path relative to `dir`, in path order.
fn stamps_of_files(dir: &Path) -> Option<Vec<FileStamp>> {
    fn walk(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<FileStamp>) -> Option<()> {
        for entry in std::fs::read_dir(dir).ok()? {
            let entry = entry.ok()?;
            let path = format!("{prefix}{}", entry.file_name().into_string().ok()?);
            // Followed like the file server follows them.
            let metadata = std::fs::metadata(entry.path()).ok()?;
            if metadata.is_dir() && depth < MAX_DEPTH {
                walk(&entry.path(), &format!("{path}/"), depth + 1, out)?;
            } else if metadata.is_file() {
                out.push(FileStamp {
                    path,
                    len: metadata.len(),
                    modified: metadata.modified().ok(),
                });
            }
        }
        Some(())
    }
    let mut stamps = Vec::new();
    walk(dir, "", 0, &mut stamps)?;
    stamps.sort_by(|a, b| a.path.cmp(&b.path));
    Some(stamps)
}

/// A digest of every file under `dir` (paths and contents), with the files' stamps, or `None`
/// when there are none. Taken once at start-up, before the server takes requests: a few
/// milliseconds for a release bundle.
fn digest_of_files(dir: &Path) -> Option<(Arc<str>, Vec<FileStamp>)> {
    // Stamped first: a file rewritten while it is read then no longer matches its stamp, and
    // is sent without being kept rather than kept with the wrong contents.
    let stamps = stamps_of_files(dir)?;
    if stamps.is_empty() {
        return None;
    }
    let mut digest = Sha256::new();
    for stamp in &stamps {
        let contents = std::fs::read(dir.join(&stamp.path)).ok()?;
        // Lengths first, so no two different sets of files hash alike.
        digest.update((stamp.path.len() as u64).to_le_bytes());
        digest.update(stamp.path.as_bytes());
        digest.update((contents.len() as u64).to_le_bytes());
        digest.update(&contents);
    }
    let hex: String = digest.finalize()[..VERSION_LEN / 2]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some((hex.into(), stamps))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_dir(files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rollcall-bundle-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, contents) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        dir
    }

    fn version(dir: &Path) -> Option<Arc<str>> {
        digest_of_files(dir).map(|(version, _)| version)
    }

    #[test]
    fn the_version_follows_the_files_paths_and_contents_and_nothing_else() {
        let js = ("rollcall.js", "one");
        let snippet = ("snippets/dep-1/inline0.js", "three");
        let a = bundle_dir(&[js, ("rollcall.css", "two"), snippet]);
        let same = bundle_dir(&[snippet, ("rollcall.css", "two"), js]);
        let changed = bundle_dir(&[js, ("rollcall.css", "two!"), snippet]);
        let renamed = bundle_dir(&[js, ("other.css", "two"), snippet]);
        let snippet_changed = bundle_dir(&[js, ("rollcall.css", "two"), ("snippets/dep-1/inline0.js", "four")]);
        // The same bytes split differently between path and contents.
        let shifted = bundle_dir(&[("rollcall.jso", "ne"), ("rollcall.css", "two"), snippet]);
        let version_a = version(&a).unwrap();
        assert!(is_version(&version_a), "{version_a}");
        assert_eq!(version(&same).unwrap(), version_a);
        for other in [&changed, &renamed, &snippet_changed, &shifted] {
            assert_ne!(version(other).unwrap(), version_a);
        }
        let empty = bundle_dir(&[]);
        assert_eq!(version(&empty), None);
        assert_eq!(version(Path::new("/nonexistent/rollcall/pkg")), None);
        for dir in [a, same, changed, renamed, snippet_changed, shifted, empty] {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn files_rewritten_after_the_version_was_taken_no_longer_match_it() {
        let site = bundle_dir(&[("pkg/rollcall.js", "one"), ("pkg/snippets/a/inline0.js", "two")]);
        let bundle = Bundle::load(site.to_str().unwrap());
        assert!(bundle.version.is_some());
        assert!(bundle.unchanged());
        std::fs::write(site.join("pkg/snippets/a/inline0.js"), "two, rebuilt").unwrap();
        assert!(!bundle.unchanged());
        std::fs::remove_dir_all(site).unwrap();
    }

    #[test]
    fn the_encoding_is_brotli_when_taken_else_gzip_and_a_zero_weight_refuses() {
        let prefer = |accept: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(accept).unwrap());
            preferred_encoding(&headers)
        };
        assert_eq!(prefer("gzip, deflate, br, zstd"), Some(Encoding::Brotli));
        assert_eq!(prefer("gzip"), Some(Encoding::Gzip));
        assert_eq!(prefer("br;q=0, gzip;q=0.5"), Some(Encoding::Gzip));
        assert_eq!(prefer("BR"), Some(Encoding::Brotli));
        assert_eq!(prefer("*"), Some(Encoding::Brotli));
        // Named outright, an encoding's weight overrides the wildcard's, in either order.
        assert_eq!(prefer("br;q=0, *"), Some(Encoding::Gzip));
        assert_eq!(prefer("*, br;Q=0, gzip;q=0"), None);
        assert_eq!(prefer("*;q=0, gzip"), Some(Encoding::Gzip));
        assert_eq!(prefer("identity"), None);
        assert_eq!(prefer("gzip;q=0"), None);
        assert_eq!(preferred_encoding(&http::HeaderMap::new()), None);
    }

    #[test]
    fn a_file_rewritten_since_its_stamp_is_not_compressed() {
        let site = bundle_dir(&[("pkg/rollcall.js", &"export const a = 1;\n".repeat(100))]);
        let bundle = Bundle::load(site.to_str().unwrap());
        let file = site.join("pkg/rollcall.js");
        let stamp = &bundle.stamps[0];
        assert!(compress(&file, stamp, "text/javascript").is_some());
        std::fs::write(&file, "export const a = 2;\n".repeat(120)).unwrap();
        assert!(compress(&file, stamp, "text/javascript").is_none());
        std::fs::remove_dir_all(site).unwrap();
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
