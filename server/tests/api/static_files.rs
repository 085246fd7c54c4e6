use crate::helpers::*;

/// A site directory with one bundle file and its precompressed copies, as a release build
/// with `--precompress` leaves them.
fn site_with_precompressed_bundle() -> String {
    let base = std::env::temp_dir().join(format!("rollcall-site-{}", uuid::Uuid::new_v4()));
    // A file next to the site directory, which no URL may reach.
    std::fs::create_dir_all(&base).unwrap();
    std::fs::write(base.join("secret.txt"), "top secret").unwrap();
    let root = base.join("site");
    let pkg = root.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("rollcall.js"), "export function hydrate() {}\n".repeat(50)).unwrap();
    std::fs::write(pkg.join("rollcall.js.br"), b"brotli bytes").unwrap();
    std::fs::write(pkg.join("rollcall.js.gz"), b"gzip bytes").unwrap();
    std::fs::write(pkg.join("rollcall.css"), "body { margin: 0 }\n").unwrap();
    root.to_string_lossy().into_owned()
}

async fn fetch(app: &TestApp, path: &str, accept_encoding: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{}{path}", app.address));
    if let Some(encodings) = accept_encoding {
        req = req.header("accept-encoding", encodings);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn the_browser_bundle_is_sent_brotli_or_gzip_compressed_to_browsers_that_accept_it() {
    let site = site_with_precompressed_bundle();
    let app = spawn_app_with(|s| s.site_root = site.clone()).await;

    let br = fetch(&app, "/pkg/rollcall.js", Some("gzip, deflate, br")).await;
    assert_eq!(br.status(), 200);
    assert_eq!(br.headers()["content-encoding"], "br");
    assert_eq!(br.headers()["content-type"], "text/javascript");
    // Under its plain name a file may change with the next release: browsers ask each time.
    assert_eq!(br.headers()["cache-control"], "no-cache");
    assert_eq!(br.headers()["vary"], "accept-encoding");
    assert_eq!(br.bytes().await.unwrap().as_ref(), b"brotli bytes");

    let gz = fetch(&app, "/pkg/rollcall.js", Some("gzip")).await;
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.bytes().await.unwrap().as_ref(), b"gzip bytes");

    let plain = fetch(&app, "/pkg/rollcall.js", None).await;
    assert!(plain.headers().get("content-encoding").is_none());
    assert!(plain.text().await.unwrap().starts_with("export function hydrate()"));

    std::fs::remove_dir_all(std::path::Path::new(&site).parent().unwrap()).unwrap();
}

#[tokio::test]
async fn a_missing_bundle_file_is_a_404_and_nothing_outside_the_bundle_is_served() {
    let site = site_with_precompressed_bundle();
    let app = spawn_app_with(|s| s.site_root = site.clone()).await;
    let res = fetch(&app, "/pkg/missing.wasm", Some("br")).await;
    assert_eq!(res.status(), 404);
    for escape in [
        "/pkg/..%2f..%2fsecret.txt",
        "/pkg/%2e%2e/%2e%2e/secret.txt",
        "/pkg/%2E%2E%2F%2E%2E%2Fsecret.txt",
    ] {
        let res = fetch(&app, escape, Some("br")).await;
        assert!(res.status().is_client_error(), "{escape}: {}", res.status());
        assert!(
            !res.text().await.unwrap().contains("top secret"),
            "{escape} escaped the site directory"
        );
    }
    std::fs::remove_dir_all(std::path::Path::new(&site).parent().unwrap()).unwrap();
}

/// The version segment of each bundle URL the page links (`/pkg/{version}/...`), in order.
fn bundle_versions(html: &str) -> Vec<String> {
    html.split("\"/pkg/")
        .skip(1)
        .map(|rest| rest.split('/').next().unwrap().to_owned())
        .collect()
}

/// The version a console page links its bundle under (plain pages such as sign-in link only
/// the stylesheet).
async fn linked_version(admin: &Browser) -> String {
    let res = admin.get("/users").await;
    assert_eq!(res.status(), 200);
    let versions = bundle_versions(&res.text().await.unwrap());
    // The stylesheet, the script's preload, the WASM's preload.
    assert_eq!(versions.len(), 3, "{versions:?}");
    assert!(versions.iter().all(|v| v == &versions[0]), "{versions:?}");
    versions[0].clone()
}

/// A server with its workspace, on the bundle in `site`, and the version its pages link.
async fn serving(site: &str) -> (TestApp, String) {
    let app = spawn_app_with(|s| s.site_root = site.to_owned()).await;
    let admin = app.first_admin().await;
    let version = linked_version(&admin).await;
    (app, version)
}

const FOR_GOOD: &str = "public, max-age=31536000, immutable";

#[tokio::test]
async fn pages_link_the_bundle_under_its_version_where_browsers_keep_it_for_good() {
    let site = site_with_precompressed_bundle();
    let (app, version) = serving(&site).await;
    assert_eq!(version.len(), 16, "{version}");

    let br = fetch(&app, &format!("/pkg/{version}/rollcall.js"), Some("br")).await;
    assert_eq!(br.status(), 200);
    assert_eq!(br.headers()["content-encoding"], "br");
    assert_eq!(br.headers()["content-type"], "text/javascript");
    assert_eq!(br.headers()["cache-control"], FOR_GOOD);
    assert_eq!(br.headers()["vary"], "accept-encoding");
    let last_modified = br.headers()["last-modified"].clone();
    assert_eq!(br.bytes().await.unwrap().as_ref(), b"brotli bytes");
    let css = fetch(&app, &format!("/pkg/{version}/rollcall.css"), None).await;
    assert_eq!(css.headers()["cache-control"], FOR_GOOD);
    assert_eq!(css.text().await.unwrap(), "body { margin: 0 }\n");

    // A browser that asks again anyway gets the file whole, never "not modified": its copy under
    // this URL may have come from a server of another release, which dates cannot tell.
    let again = reqwest::Client::new()
        .get(format!("{}/pkg/{version}/rollcall.js", app.address))
        .header("if-modified-since", last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["cache-control"], FOR_GOOD);

    // A link from a page of another release (servers upgraded one by one): this server's copy,
    // which nothing may keep under that version, nor revalidate against it later.
    let other = fetch(&app, "/pkg/0123456789abcdef/rollcall.js", None).await;
    assert_eq!(other.status(), 200);
    assert_eq!(other.headers()["cache-control"], "no-store");
    assert!(other.headers().get("last-modified").is_none());
    assert!(other.headers().get("etag").is_none());

    let missing = fetch(&app, &format!("/pkg/{version}/missing.wasm"), None).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["cache-control"], "no-cache");
    for escape in [
        "..%2f..%2fsecret.txt",
        "%2e%2e/%2e%2e/secret.txt",
        "%2E%2E%2F%2E%2E%2Fsecret.txt",
    ] {
        let res = fetch(&app, &format!("/pkg/{version}/{escape}"), None).await;
        assert!(res.status().is_client_error(), "{escape}: {}", res.status());
        assert!(
            !res.text().await.unwrap().contains("top secret"),
            "{escape} escaped the site directory"
        );
    }
    std::fs::remove_dir_all(std::path::Path::new(&site).parent().unwrap()).unwrap();
}

#[tokio::test]
async fn a_bundle_rebuilt_while_the_server_runs_is_not_kept_under_the_version_it_started_with() {
    let site = site_with_precompressed_bundle();
    let (app, version) = serving(&site).await;
    let css = std::path::Path::new(&site).join("pkg/rollcall.css");
    std::fs::write(&css, "body { margin: 2px; padding: 0 }\n").unwrap();

    let res = fetch(&app, &format!("/pkg/{version}/rollcall.css"), None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.text().await.unwrap(), "body { margin: 2px; padding: 0 }\n");
    std::fs::remove_dir_all(std::path::Path::new(&site).parent().unwrap()).unwrap();
}

#[tokio::test]
async fn servers_with_the_same_bundle_link_the_same_urls_and_a_new_bundle_gets_new_ones() {
    let site = site_with_precompressed_bundle();
    let copy = site_with_precompressed_bundle();
    let (app, version) = serving(&site).await;
    // A second server of the same release, on the same database.
    let peer = spawn_on(app.database_url.clone(), |s| s.site_root = copy.clone()).await;
    assert_eq!(linked_version(&signed_in(&peer).await).await, version);

    let release = site_with_precompressed_bundle();
    std::fs::write(
        std::path::Path::new(&release).join("pkg/rollcall.css"),
        "body { margin: 1px }\n",
    )
    .unwrap();
    let upgraded = spawn_on(app.database_url.clone(), |s| s.site_root = release.clone()).await;
    assert_ne!(linked_version(&signed_in(&upgraded).await).await, version);
    for dir in [site, copy, release] {
        std::fs::remove_dir_all(std::path::Path::new(&dir).parent().unwrap()).unwrap();
    }
}

/// The first workspace's admin, signed in on `app` (whose database already has the workspace).
async fn signed_in(app: &TestApp) -> Browser {
    let admin = app.browser();
    assert_eq!(admin.sign_in("ada@acme.test", PASSWORD).await.status(), 303);
    admin
}

#[tokio::test]
async fn without_a_built_bundle_pages_link_its_plain_names() {
    let app = spawn_app_with(|s| s.site_root = "/nonexistent/rollcall-site".to_owned()).await;
    let admin = app.first_admin().await;
    let res = admin.get("/users").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("href=\"/pkg/rollcall.css\""), "{html}");
    assert!(html.contains("href=\"/pkg/rollcall.js\""), "{html}");
}

/// A site directory whose bundle has no compressed copies, as the plain `cargo leptos build
/// --release` (without `--precompress`) leaves it.
fn site_without_compressed_copies() -> String {
    let root = std::env::temp_dir()
        .join(format!("rollcall-site-{}", uuid::Uuid::new_v4()))
        .join("site");
    let pkg = root.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let wasm: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8 ^ (i / 1000) as u8).collect();
    std::fs::write(pkg.join("rollcall.wasm"), &wasm).unwrap();
    std::fs::write(pkg.join("rollcall.js"), "export function hydrate() {}\n".repeat(500)).unwrap();
    std::fs::write(pkg.join("rollcall.css"), "body { margin: 0 }\n".repeat(100)).unwrap();
    root.to_string_lossy().into_owned()
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096).read_to_end(&mut out).unwrap();
    out
}

fn ungzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

#[tokio::test]
async fn a_bundle_built_without_compressed_copies_is_still_sent_compressed_and_compressed_once() {
    let site = site_without_compressed_copies();
    let (app, version) = serving(&site).await;
    let original = std::fs::read(std::path::Path::new(&site).join("pkg/rollcall.wasm")).unwrap();

    let first = fetch(
        &app,
        &format!("/pkg/{version}/rollcall.wasm"),
        Some("gzip, deflate, br"),
    )
    .await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-encoding"], "br");
    assert_eq!(first.headers()["content-type"], "application/wasm");
    assert_eq!(first.headers()["cache-control"], FOR_GOOD);
    assert_eq!(first.headers()["vary"], "accept-encoding");
    // A copy made and kept whole, not compressed as it streams (which sends no length).
    let length: usize = first.headers()["content-length"].to_str().unwrap().parse().unwrap();
    let first = first.bytes().await.unwrap();
    assert_eq!(length, first.len());
    assert!(
        first.len() < original.len() / 2,
        "{} of {} bytes",
        first.len(),
        original.len()
    );
    assert_eq!(unbrotli(&first), original);
    // Kept: the second request gets the very same copy.
    let second = fetch(&app, &format!("/pkg/{version}/rollcall.wasm"), Some("br")).await;
    assert_eq!(second.bytes().await.unwrap(), first);

    let gz = fetch(&app, &format!("/pkg/{version}/rollcall.js"), Some("gzip")).await;
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["content-type"], "text/javascript");
    let js = std::fs::read(std::path::Path::new(&site).join("pkg/rollcall.js")).unwrap();
    assert_eq!(ungzip(&gz.bytes().await.unwrap()), js);

    // A client that takes no compression, or refuses brotli, gets what it can read.
    let plain = fetch(&app, &format!("/pkg/{version}/rollcall.wasm"), None).await;
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.bytes().await.unwrap().as_ref(), original.as_slice());
    let no_brotli = fetch(&app, &format!("/pkg/{version}/rollcall.css"), Some("br;q=0, gzip")).await;
    assert_eq!(no_brotli.headers()["content-encoding"], "gzip");
    std::fs::remove_dir_all(std::path::Path::new(&site).parent().unwrap()).unwrap();
}

fn unzstd(bytes: &[u8]) -> Vec<u8> {
    zstd::decode_all(bytes).unwrap()
}

#[tokio::test]
async fn pages_and_server_function_answers_are_sent_compressed_to_browsers_that_accept_it() {
    let app = spawn_app().await;
    let admin = app.first_admin().await;
    // Chrome, Edge and Firefox take zstd; Safari, gzip and brotli (brotli is kept for the bundle,
    // compressed once: on the fly it costs four times zstd's CPU for the same size).
    for (accept, expected) in [
        ("gzip, deflate, br, zstd", "zstd"),
        ("gzip, deflate, br", "gzip"),
        ("gzip", "gzip"),
    ] {
        let page = admin
            .client
            .get(admin.url("/users"))
            .header("accept", "text/html")
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(page.headers()["content-encoding"], expected, "{accept}");
        let body = page.bytes().await.unwrap();
        let html = String::from_utf8(if expected == "zstd" {
            unzstd(&body)
        } else {
            ungzip(&body)
        })
        .unwrap();
        assert!(html.contains("ada@acme.test"), "{html}");
    }
    let answer = admin
        .client
        .post(admin.url("/api/list_users"))
        .header("origin", &admin.base)
        .header("accept-encoding", "gzip, deflate, br, zstd")
        .form(&[("query[page]", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-encoding"], "zstd");
    let json: serde_json::Value = serde_json::from_slice(&unzstd(&answer.bytes().await.unwrap())).unwrap();
    assert!(json.to_string().contains("ada@acme.test"), "{json}");
    let plain = admin.get("/users").await;
    assert!(plain.headers().get("content-encoding").is_none());
}
