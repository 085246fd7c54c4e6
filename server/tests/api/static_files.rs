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
