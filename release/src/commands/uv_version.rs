//! `ktx-release uv-version`: the uv version this release pins.

pub fn run() {
    println!("{}", ktx_release::uvpin::UV_VERSION);
}
