//! The two halves of the ktx-daemon protocol agree: the Rust CLI's `enum Op` and the payload's
//! op table (`python/src/ktx_daemon/protocol.py`) name the same ops with the same routes.

use ktx_bootstrap::protocol::Op;
use std::path::PathBuf;

#[test]
fn the_rust_op_table_is_the_python_payloads_op_table() {
    let py = std::env::var_os("KTX_TEST_PYTHON_ENV")
        .map(|p| PathBuf::from(p).join("bin/python"))
        .expect("KTX_TEST_PYTHON_ENV: run through ./scripts/test");
    let out = std::process::Command::new(py)
        .args([
            "-c",
            "import json; from ktx_daemon.protocol import OPS; print(json.dumps([[o.name, o.route] for o in OPS]))",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python: Vec<(String, String)> = serde_json::from_slice(&out.stdout).unwrap();
    let rust: Vec<(String, String)> = Op::ALL
        .iter()
        .map(|o| (o.name().to_string(), o.route().to_string()))
        .collect();
    assert_eq!(rust, python);
}
