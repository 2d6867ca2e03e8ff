//! Helpers shared by the HTTP tests: an in-process emulator on a free loopback port and a
//! client that speaks to it over real HTTP.
#![allow(dead_code)] // Each test binary uses a different subset.

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use twelvelabs_emulator::{Config, Emulator};

/// The API key of every test emulator.
pub const KEY: &str = "test-key";

/// A running emulator plus a client.
pub struct Harness {
    /// The emulator (shut down by `stop`).
    pub emulator: Emulator,
    /// A client without proxies or pooling surprises.
    pub client: Client,
}

/// A config for tests: test key, CORS for one origin, no processing delay.
pub fn test_config() -> Config {
    let mut config = Config {
        api_key: KEY.to_owned(),
        ..Config::default()
    };
    config.allowed_origins = vec!["http://app.test".to_owned()];
    config.faults.processing_ms = 0;
    config
}

impl Harness {
    /// Starts an emulator with `config`.
    pub async fn start(config: Config) -> Harness {
        let emulator = twelvelabs_emulator::serve(config)
            .await
            .expect("emulator starts");
        let client = Client::builder().no_proxy().build().expect("client");
        Harness { emulator, client }
    }

    /// Starts an emulator with [`test_config`].
    pub async fn default() -> Harness {
        Harness::start(test_config()).await
    }

    /// Absolute URL of an API path (`/assets…`).
    pub fn api(&self, path: &str) -> String {
        format!("{}/v1.3{path}", self.emulator.url())
    }

    /// Absolute URL of a debug path (`/_emulator/…`).
    pub fn debug(&self, path: &str) -> String {
        format!("{}/_emulator{path}", self.emulator.url())
    }

    /// GET an API path with the key.
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.api(path))
            .header("x-api-key", KEY)
            .send()
            .await
            .expect("GET")
    }

    /// POST JSON to an API path with the key.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.api(path))
            .header("x-api-key", KEY)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// POST JSON to a debug path.
    pub async fn post_debug(&self, path: &str, body: &Value) -> Value {
        let response = self
            .client
            .post(self.debug(path))
            .json(body)
            .send()
            .await
            .expect("POST");
        assert!(
            response.status().is_success(),
            "debug {path}: {}",
            response.status()
        );
        response.json().await.expect("JSON")
    }

    /// GET a debug path as JSON.
    pub async fn get_debug(&self, path: &str) -> Value {
        self.client
            .get(self.debug(path))
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON")
    }

    /// Creates a session; asserts 201 and answers its body.
    pub async fn create_session(&self, filename: &str, total_size: u64) -> Value {
        let response = self
            .post(
                "/assets/multipart-uploads",
                &json!({"filename": filename, "type": "video", "total_size": total_size}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("JSON")
    }

    /// PUTs bytes to a presigned URL.
    pub async fn put(&self, url: &str, bytes: Vec<u8>) -> Response {
        self.client
            .put(url)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .expect("PUT")
    }

    /// PUTs bytes and answers the unquoted ETag (asserting 200).
    pub async fn put_ok(&self, url: &str, bytes: Vec<u8>) -> String {
        let response = self.put(url, bytes).await;
        assert_eq!(response.status(), StatusCode::OK);
        etag_of(&response)
    }

    /// Reports chunks `(index, etag, size)`.
    pub async fn report(&self, upload_id: &str, chunks: &[(u64, &str, u64)]) -> Response {
        let items: Vec<Value> = chunks
            .iter()
            .map(|(index, etag, size)| {
                json!({"chunk_index": index, "proof": etag, "proof_type": "etag", "chunk_size": size})
            })
            .collect();
        self.post(
            &format!("/assets/multipart-uploads/{upload_id}"),
            &json!({"completed_chunks": items}),
        )
        .await
    }

    /// Shuts the emulator down.
    pub async fn stop(self) {
        self.emulator.shutdown().await;
    }
}

/// The ETag header without quotes.
pub fn etag_of(response: &Response) -> String {
    response
        .headers()
        .get("etag")
        .expect("ETag header")
        .to_str()
        .expect("ASCII")
        .trim_matches('"')
        .to_owned()
}

/// Lowercase hex MD5.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(bytes))
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Deterministic test bytes (a simple LCG, so that chunks differ from each other).
pub fn test_bytes(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        })
        .collect()
}

/// Asserts the documented error body and code, answering the message.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> String {
    assert_eq!(response.status(), status, "status for expected `{code}`");
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(body["code"], code, "body: {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "body: {body}"
    );
    body["message"].as_str().unwrap_or_default().to_owned()
}
