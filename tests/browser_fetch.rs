//! Headless-Chromium smoke test of the browser transport: a real `fetch` from wasm to the
//! emulator started by `tests/support/run-browser-tests.mjs`.
#![cfg(target_arch = "wasm32")]

mod browser_support;

use browser_support::{emulator, to_json};
use twelvelabs_edge_upload::browser::transport::{ApiBody, Credential, Transport};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn fetch_lists_assets_from_the_emulator() {
    let (url, key) = emulator();
    let transport = Transport::new(None).expect("the browser has fetch");
    let response = transport
        .api(
            "GET",
            &format!("{url}/v1.3/assets?page=1&page_limit=5"),
            Some(Credential::ApiKey(key)),
            ApiBody::Empty,
            None,
        )
        .await
        .expect("the emulator answers");
    // The transport hands over the body as the JS engine parsed it.
    let json = to_json(&response.body);
    assert_eq!(response.status, 200, "body: {json}");
    assert!(json["data"].is_array(), "no data array in {json}");
    assert_eq!(json["page_info"]["page"], 1, "page_info in {json}");
    assert_eq!(
        json["page_info"]["limit_per_page"], 5,
        "page_info in {json}"
    );
}

#[wasm_bindgen_test]
async fn fetch_without_the_key_gets_the_documented_401() {
    let (url, _) = emulator();
    let transport = Transport::new(None).expect("the browser has fetch");
    let response = transport
        .api(
            "GET",
            &format!("{url}/v1.3/assets"),
            None,
            ApiBody::Empty,
            None,
        )
        .await
        .expect("the emulator answers, with CORS headers even on errors");
    let json = to_json(&response.body);
    assert_eq!(response.status, 401, "body: {json}");
    assert_eq!(json["code"], "api_key_invalid", "error body {json}");
}
