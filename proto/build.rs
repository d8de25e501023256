//! Compiles every `.proto` under `proto/` in pure Rust (protox), generates the prost messages
//! and tonic clients/servers, and writes the descriptor set that server reflection serves.
use protox::prost::Message;
use std::path::PathBuf;

const FILES: &[&str] = &[
    "antrean/v1/common.proto",
    "antrean/v1/errors.proto",
    "antrean/v1/identity.proto",
    "antrean/v1/quota.proto",
    "antrean/v1/booking.proto",
    "antrean/v1/notification.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let fds = protox::compile(FILES, ["proto"])?;
    std::fs::write(out.join("antrean_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
