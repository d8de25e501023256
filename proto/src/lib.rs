//! The one home of antrean's gRPC contract (`antrean.v1`).
//!
//! - [`v1`]: generated messages, clients and servers for the identity, quota, booking and
//!   notification services, compiled from `proto/antrean/v1/*.proto` by `build.rs`.
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptors, served by gRPC server reflection.
//!
//! Dates on the wire are ISO 8601 calendar dates (`YYYY-MM-DD`) in the office's local
//! calendar; instants are `google.protobuf.Timestamp`.

pub mod v1 {
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("antrean.v1");
}

/// Encoded `FileDescriptorSet` of every antrean proto file, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/antrean_descriptor.bin"));

pub use prost_types::Timestamp;
