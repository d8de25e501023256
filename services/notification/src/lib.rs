//! The notification service: outbound messages to applicants.
//!
//! - [`grpc`]: the gRPC service `antrean.v1.NotificationService`. It serves health and
//!   reflection now; the outbox, WhatsApp delivery and e-mail come with the WhatsApp channel.
//! - [`NotificationConfig`]: settings from the environment.

pub mod grpc;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "antrean-notification",
    about = "antrean notification service (gRPC)"
)]
pub struct NotificationConfig {
    #[arg(long, env = "NOTIFICATION_ADDR", default_value = "0.0.0.0:50054")]
    pub addr: String,
    #[arg(long, env = "SHUTDOWN_DRAIN_SECONDS", default_value_t = 0)]
    pub drain_seconds: u64,
}
