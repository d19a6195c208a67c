//! Writes the Function URL fixtures of `events/http/` from the bodies in `events/payloads/`,
//! signed with the documented test secret at the documented time.
//!
//! Run it after changing a payload, the secret or the time:
//! `cargo run -p leadq-ingest --example sign_fixtures` (from anywhere in the workspace).
//! The handler tests replay the files with the clock pinned to [`SIGNED_AT`].

// the table is shared with the handler tests, which read the expected answers this
// generator does not need
#[allow(dead_code)]
#[path = "../src/fixtures.rs"]
mod fixtures;

use fixtures::{
    FIXTURE_SECRET, FixtureSpec, SIGNED_AT, WRONG_SECRET, fixture_specs, function_url_request,
    oversized_body,
};
use std::path::{Path, PathBuf};

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let payloads = root.join("events/payloads");
    let out = root.join("events/http");
    std::fs::create_dir_all(&out)?;
    for spec in fixture_specs() {
        let body = body_of(&spec, &payloads)?;
        let request = function_url_request(&spec, &body);
        let path: PathBuf = out.join(spec.file);
        let mut text = serde_json::to_string_pretty(&request)?;
        text.push('\n');
        std::fs::write(&path, text)?;
        println!("wrote {} ({} body bytes)", path.display(), body.len());
    }
    println!("signed with {FIXTURE_SECRET:?} (wrong: {WRONG_SECRET:?}) at unix time {SIGNED_AT}");
    Ok(())
}

fn body_of(spec: &FixtureSpec, payloads: &Path) -> anyhow::Result<Vec<u8>> {
    match spec.payload {
        Some(name) => Ok(std::fs::read(payloads.join(name))?),
        None => Ok(oversized_body()),
    }
}
