//! Headless-Chromium smoke test of the browser transport: a real `fetch` from wasm to the
//! emulator started by `tests/support/run-browser-tests.mjs`.
#![cfg(target_arch = "wasm32")]

mod browser_support;

use browser_support::{emulator, to_json};
use twelvelabs_edge_upload::browser::transport::{
    api_init, ApiBody, ApiResponse, Credential, ResponseHead, Transport,
};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Sends a `GET` API call as the executor does (`api_init`, `Transport::start`, the head read
/// on arrival, then the body) and returns the response.
async fn get(transport: &Transport, url: &str, credential: Option<Credential<'_>>) -> ApiResponse {
    let init = api_init("GET", credential, ApiBody::Empty, None).expect("a request");
    let response: web_sys::Response = JsFuture::from(transport.start(url, &init))
        .await
        .expect("the emulator answers")
        .unchecked_into();
    let head = ResponseHead::read(&response);
    let text = JsFuture::from(response.text().expect("a body"))
        .await
        .expect("the body is read");
    head.api_response(&text.as_string().unwrap_or_default())
}

#[wasm_bindgen_test]
async fn fetch_lists_assets_from_the_emulator() {
    let (url, key) = emulator();
    let transport = Transport::new(None).expect("the browser has fetch");
    let response = get(
        &transport,
        &format!("{url}/v1.3/assets?page=1&page_limit=5"),
        Some(Credential::ApiKey(key)),
    )
    .await;
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
    // The emulator answers, with CORS headers even on errors.
    let response = get(&transport, &format!("{url}/v1.3/assets"), None).await;
    let json = to_json(&response.body);
    assert_eq!(response.status, 401, "body: {json}");
    assert_eq!(json["code"], "api_key_invalid", "error body {json}");
}
