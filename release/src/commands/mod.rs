//! One module per `ktx-release` command, each a `run` taking the release layout and the
//! command's flags (`flags`); the package itself is built by `ktx_release::pipeline`.

pub mod bench;
pub mod binary;
pub mod check;
pub mod download_sizes;
pub mod host_target;
pub mod pack;
pub mod payload_project;
pub mod rebuild;
pub mod smoke;
pub mod smoke_merge;
pub mod soak;
pub mod uv_version;
pub mod verify;
pub mod wheel;
