//! Tests of the binary: the first stdout line, `--help`, environment variables, clean exit on
//! SIGTERM with the temporary data directory removed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

#[path = "common/stop.rs"]
mod stop;

/// Stops the child by PID when dropped, so a failing assertion never leaks a process.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        stop::stop(&mut self.0);
    }
}

fn emulator() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_twelvelabs-emulator"));
    command
        .env_remove("EMULATOR_API_KEY")
        .env_remove("EMULATOR_LISTEN");
    command
}

/// Starts the binary; answers it and its first stdout line.
fn start(command: &mut Command) -> (Running, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let running = Running(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    (running, line.trim_end().to_owned())
}

fn get(url: &str, key: Option<&str>) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut request = client.get(url);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        request.send().await.unwrap().status().as_u16()
    })
}

#[test]
fn first_line_announces_the_url_and_flags_or_env_set_the_key() {
    let (_running, line) =
        start(emulator().args(["--listen", "127.0.0.1:0", "--api-key", "flag-key"]));
    let url = line
        .strip_prefix("listening on http://127.0.0.1:")
        .map(|port| format!("http://127.0.0.1:{port}"));
    let url = url.unwrap_or_else(|| panic!("unexpected first line `{line}`"));
    assert_eq!(get(&format!("{url}/v1.3/assets"), Some("flag-key")), 200);
    assert_eq!(
        get(&format!("{url}/v1.3/assets"), Some("emulator-dev-key")),
        401
    );

    let (_running, line) = start(emulator().env("EMULATOR_API_KEY", "env-key"));
    let url = line.replace("listening on ", "");
    assert_eq!(get(&format!("{url}/v1.3/assets"), Some("env-key")), 200);

    let (_running, line) = start(&mut emulator());
    let url = line.replace("listening on ", "");
    assert_eq!(
        get(&format!("{url}/v1.3/assets"), Some("emulator-dev-key")),
        200
    );
}

#[test]
fn help_documents_every_flag_and_its_environment_variable() {
    let output = emulator().arg("--help").output().expect("--help");
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--listen",
        "--api-key",
        "--public-url",
        "--allowed-origins",
        "--data-dir",
        "--chunk-size",
        "--initial-urls",
        "--delete-status",
        "--url-mode",
        "--processing-ms",
        "--seed",
        "--clock-offset",
        "--put-failure-rate",
        "--put-failure-kind",
        "--put-fail-next",
        "--put-stall-secs",
        "--url-ttl-secs",
        "--single-use-urls",
        "--hide-etag",
        "--rate-limit-rate",
        "--rate-limit-next",
        "--retry-after-secs",
        "--api-fail-next",
        "--session-ttl-secs",
        "--latency-ms",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
        let variable = format!(
            "EMULATOR_{}",
            flag.trim_start_matches("--")
                .replace('-', "_")
                .to_uppercase()
        );
        assert!(help.contains(&variable), "--help lacks {variable}");
    }
    assert!(help.contains("emulator-dev-key"));
}

#[test]
fn bad_flags_fail_with_a_clear_message() {
    let output = emulator()
        .args(["--put-failure-rate", "1.5"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("put_failure_rate"));
    let output = emulator()
        .args(["--put-failure-kind", "timeout"])
        .output()
        .unwrap();
    assert!(!output.status.success());
}

/// Starts the binary with a temporary data directory, opens `connections` (each given the
/// emulator's address), sends SIGTERM, and checks that it exits cleanly with the directory gone.
fn sigterm_removes_the_temporary_directory(connections: fn(&str) -> Vec<std::net::TcpStream>) {
    let (mut running, line) = start(&mut emulator());
    let address = line
        .strip_prefix("listening on http://")
        .expect("the first line names the URL")
        .to_owned();
    let mut stderr = BufReader::new(running.0.stderr.take().unwrap());
    let mut banner = String::new();
    stderr.read_line(&mut banner).unwrap();
    let data_dir = banner
        .trim_end()
        .rsplit_once("data in ")
        .map(|(_, dir)| std::path::PathBuf::from(dir))
        .unwrap();
    assert!(data_dir.is_dir(), "{banner}");
    let _open = connections(&address);
    let status = Command::new("kill")
        .args(["-TERM", &running.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(running.0.wait().unwrap().success());
    assert!(
        !data_dir.exists(),
        "{} should be removed",
        data_dir.display()
    );
}

#[test]
fn sigterm_stops_the_emulator_and_removes_its_temporary_directory() {
    sigterm_removes_the_temporary_directory(|_| Vec::new());
}

#[test]
fn sigterm_removes_the_temporary_directory_while_clients_hold_connections_open() {
    use std::io::{Read, Write};
    sigterm_removes_the_temporary_directory(|address| {
        // A browser's or workerd's idle keep-alive connection, after a whole exchange.
        let mut idle = std::net::TcpStream::connect(address).unwrap();
        idle.write_all(b"GET /_emulator/health HTTP/1.1\r\nHost: emulator\r\n\r\n")
            .unwrap();
        let mut answer = [0u8; 12];
        idle.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"HTTP/1.1 200");
        // A storage PUT cut short: headers sent, most of the body not.
        let mut partway = std::net::TcpStream::connect(address).unwrap();
        partway
            .write_all(
                b"PUT /_storage/nothing/1 HTTP/1.1\r\nHost: emulator\r\n\
                  Content-Length: 1000\r\n\r\npartial",
            )
            .unwrap();
        // Let the emulator take both connections in before the signal.
        std::thread::sleep(std::time::Duration::from_millis(200));
        vec![idle, partway]
    });
}

#[test]
fn public_url_and_data_dir_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let (_running, line) = start(emulator().args([
        "--public-url",
        "http://localhost:9999/",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]));
    let url = line.replace("listening on ", "");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body: serde_json::Value = runtime.block_on(async {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("{url}/v1.3/assets/multipart-uploads"))
            .header("x-api-key", "emulator-dev-key")
            .json(&serde_json::json!({"filename": "a.mp4", "type": "video", "total_size": 1}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let chunk_url = body["upload_urls"][0]["url"].as_str().unwrap();
    assert!(
        chunk_url.starts_with("http://localhost:9999/_storage/"),
        "{chunk_url}"
    );
    assert!(dir.path().join("parts").is_dir());
}
